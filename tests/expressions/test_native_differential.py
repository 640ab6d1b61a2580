"""The direct evaluator must give exactly what jsonata-python gives, on any data.

Hypothesis builds expressions from the subset the direct evaluator handles and random
JSON data; for each, the normal evaluation (direct, falling back to JSONata where the
data needs it) is compared with a pure jsonata-python evaluation.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expressions import UNDEFINED, CompiledExpression, ExpressionError, Scope

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=5),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "x"]), children, max_size=3)
    ),
    max_leaves=8,
)

atoms = st.one_of(
    st.integers(min_value=-100, max_value=100).map(str),
    st.sampled_from(["1.5", "0", '"a"', '""', "'b'", "true", "false", "null"]),
    st.sampled_from(
        [
            "$ctx.a",
            "$ctx.b",
            "$ctx.a.b",
            "$ctx.c.x",
            "$ctx.missing",
            "$result",
            "$result.a",
            "$result.x.a",
            "$item",
            "$index",
            "$error.message",
            "$succeeded()",
            "$failed()",
            "$completed()",
            "$task.iteration",
            "$ctx",
        ]
    ),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(
        children,
        st.sampled_from(["and", "or", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "&"]),
        children,
    ).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
    unary = st.tuples(st.sampled_from(["-", "$not", "$exists", "$boolean"]), children).map(
        lambda t: f"-({t[1]})" if t[0] == "-" else f"{t[0]}({t[1]})"
    )
    conditional = st.tuples(children, children, children).map(
        lambda t: f"({t[0]} ? {t[1]} : {t[2]})"
    )
    return binary | unary | conditional


expressions = st.recursive(atoms, _combine, max_leaves=6)


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        value = run()
    except ExpressionError:
        return ("error", None)
    if value is UNDEFINED:
        return ("undefined", None)
    return ("value", _typed(value))


def _typed(value: Any) -> Any:
    """Equality that tells true from 1 and 1 from 1.0 where JSON would."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", float(value))
    return value


@settings(max_examples=1500, deadline=None)
@given(
    source=expressions,
    ctx=st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values, max_size=3),
    result=json_values,
    item=json_values,
    status=st.sampled_from(["succeeded", "failed", None]),
)
def test_direct_evaluation_agrees_with_jsonata(
    source: str, ctx: dict[str, Any], result: Any, item: Any, status: str | None
) -> None:
    compiled = CompiledExpression(source)
    assert compiled.is_native, source
    scope = Scope(
        ctx=ctx,
        run={"id": "r"},
        now_ms=0,
        seed="s",
        status=status,
        result=result,
        error={"type": "t", "message": "m"} if status == "failed" else UNDEFINED,
        item=item,
        index=2,
        task={"name": "t", "iteration": 3, "route": 0, "attempt": 1},
    )
    direct = _outcome(lambda: compiled.evaluate(scope))
    reference = _outcome(lambda: compiled.evaluate_with_jsonata(scope))
    assert direct == reference, (source, ctx, result, item)


def test_common_conditions_run_directly() -> None:
    for source in [
        "$succeeded() and $result.status = 200",
        "$not($succeeded() and $result.status = 200) and $ctx.checks < $ctx.max_checks",
        "$ctx.checks + 1",
        '$ctx.which = "a"',
        "$exists($ctx.x) ? $ctx.x : 0",
    ]:
        assert CompiledExpression(source).is_native, source
    for source in ["$count($result)", "$ctx.xs[0]", '$ctx.which in ["a", "b"]', "$string($ctx.a)"]:
        assert not CompiledExpression(source).is_native, source
