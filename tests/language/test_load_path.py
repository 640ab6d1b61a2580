"""`load_workflow` (what a worker compiles) leaves out the `$ctx` read warnings: the spec
it gives is the one the full check gives, field by field, for every workflow the
project holds and for mutated ones; a workflow that does not compile is refused with
every finding, warnings included, as before."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.diagnostics import Category, WorkflowInvalid
from engine.expressions.runtime import CompiledExpression
from engine.language.loader import check_workflow, load_workflow
from tests.language.test_invalid_workflows import CASES as INVALID

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = Path("/work/shared/conformance")


def _texts() -> dict[str, str]:
    found = {
        f"conformance/{path.name}": path.read_text("utf-8")
        for path in sorted(CONFORMANCE.glob("*.yaml"))
        if not path.name.endswith(".cases.yaml")
    }
    for folder in ("examples", "workflows"):
        for path in sorted((ROOT / folder).glob("*.yaml")):
            if not path.name.endswith(".mocks.yaml"):
                found[f"{folder}/{path.name}"] = path.read_text("utf-8")
    for path in sorted((ROOT / "tests" / "semantics").glob("*.yaml")):
        found[f"semantics/{path.name}"] = yaml.safe_load(path.read_text("utf-8"))["workflow"]
    for case in INVALID:
        found[f"invalid/{case.id}"] = textwrap.dedent(case.yaml)
    return found


TEXTS = _texts()


def _shape(value: Any) -> Any:
    """A value's structure, compiled expressions by their text (they compare by identity)."""
    if isinstance(value, CompiledExpression):
        return ("expression", value.source, value.secret_names)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (type(value).__name__, [(f.name, _shape(getattr(value, f.name))) for f in fields])
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_shape(item) for item in value]
    slots = [name for cls in type(value).__mro__ for name in getattr(cls, "__slots__", ())]
    if slots:
        return (type(value).__name__, [(name, _shape(getattr(value, name))) for name in slots])
    return value


def _same_as_full_check(text: str) -> None:
    full = check_workflow(text, "w.yaml", "w")
    lean = check_workflow(text, "w.yaml", "w", context_reads=False)
    assert _shape(lean.spec) == _shape(full.spec)
    assert lean.diagnostics == [d for d in full.diagnostics if d.category is not Category.CONTEXT]
    if full.spec is None:
        with pytest.raises(WorkflowInvalid) as refused:
            load_workflow(text, "w.yaml", "w")
        assert refused.value.diagnostics == full.diagnostics
    else:
        assert _shape(load_workflow(text, "w.yaml", "w")) == _shape(full.spec)


def test_the_corpus_is_there() -> None:
    kinds = {name.split("/")[0] for name in TEXTS}
    assert kinds == {"conformance", "examples", "workflows", "semantics", "invalid"}
    assert any(check_workflow(text, "w.yaml").warnings for text in TEXTS.values())


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_load_gives_the_spec_and_findings_of_the_full_check(text: str) -> None:
    _same_as_full_check(text)


_FRAGMENTS = [
    "$ctx.nope ", "<% $ctx.y %>", "do: t1", ": ", "- ", ",", "\n", "  ", "when: ",
    "publish: {z: 1}", "x", "<% %>", "join: all", "retry: {count: 2}",
]  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(list(TEXTS.values())))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_FRAGMENTS)) + text[at:]
    return text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_mutated_workflows_load_as_the_full_check_says(text: str) -> None:
    _same_as_full_check(text)
