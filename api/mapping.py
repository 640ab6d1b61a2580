"""JSONata over a JSON object that came in from outside (a webhook payload, an event):
criteria and input mappings of webhooks and event rules. The object is the context (as
for `SEGUE_EVENT_KEYS`), and every evaluation is bounded (engine/expressions/budget.py)
tighter than a run's, because it runs on the API's event loop."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from api.problems import ApiProblem
from engine.expressions import UNDEFINED, CompiledExpression, ExpressionError, Limits, Scope

MAX_EXPRESSION_CHARS: Final = 2000
# ~80 ms of CPU at most per evaluation (a run's budget is ten times that).
LIMITS: Final = Limits(max_steps=20_000, max_depth=100, max_result_bytes=256 * 1024)


class PayloadExpression:
    """A compiled expression evaluated against one JSON object."""

    def __init__(self, source: str, what: str) -> None:
        if not source.strip() or len(source) > MAX_EXPRESSION_CHARS:
            raise ApiProblem(
                422,
                "EXPRESSION_INVALID",
                f"{what}: an expression of 1 to {MAX_EXPRESSION_CHARS} characters",
            )
        self.source = source
        try:
            # The object is bound as $ctx; the block evaluates the source in its context.
            self._compiled = CompiledExpression(f"$ctx.({source})")
        except ExpressionError as error:
            raise ApiProblem(
                422, "EXPRESSION_INVALID", f"{what}: {error.message} in {source!r}"
            ) from None

    def evaluate(self, context: Mapping[str, Any], seed: str) -> Any:
        """The value (UNDEFINED when there is none); `ExpressionError` when it fails."""
        return self._compiled.evaluate(
            Scope(ctx=context, run={}, now_ms=0, seed=seed, limits=LIMITS)
        )


@lru_cache(maxsize=512)
def compiled(source: str, what: str) -> PayloadExpression:
    """The expression compiled once per process (hooks and rules are read per request)."""
    return PayloadExpression(source, what)


def holds(value: Any) -> bool:
    """Whether a criteria's value counts as true: only `true` itself (a typo that gives
    a string or a number must not start runs)."""
    return value is True


def as_input(value: Any) -> dict[str, Any] | None:
    """A mapping's value as a run input: a JSON object, else None."""
    return value if isinstance(value, dict) and value is not UNDEFINED else None
