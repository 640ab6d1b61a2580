"""The fast schema check (jsonschema-rs) never accepts what the reference one refuses.

A "valid" from the fast validator skips `jsonschema`, so it must imply the reference's
"valid"; a "no" only costs time (the reference then reports the errors).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.language import schema
from engine.language.yaml_source import parse_yaml
from tests.language.test_fuzz_loader import SEEDS, mutated_workflow


def _reference_valid(data: Any) -> bool:
    return not any(True for _ in schema._validator().iter_errors(data))


def _agrees(data: Any) -> None:
    if schema._fast_valid(data):
        assert _reference_valid(data), data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_workflow())
def test_a_mutated_workflow_fast_valid_only_if_valid(text: str) -> None:
    document, _ = parse_yaml(text, "fuzz.yaml")
    if document is not None:
        _agrees(document.data)


# Whitespace the regex engines read differently around an expression: Python's `\s`
# takes U+001C..U+001F and not U+FEFF, ECMAScript's the other way round.
EDGE_TIMEOUTS = [
    "<% 3 %>",
    " <% 3 %> ",
    "\ufeff<% 3 %>",
    "<% 3 %>\ufeff",
    "\x1c<% 3 %>",
    "<% 3 %>\x1f",
    "\u2028<% 3 %>",
    "\u00a0<% 3 %>\u3000",
    "\n<% 3 %>\t",
    "<% 3 %",
    3,
    2**70,
    -(2**70),
    1e300,
    "3",
]


@pytest.mark.parametrize("timeout", EDGE_TIMEOUTS, ids=repr)
def test_expression_whitespace_and_big_numbers_agree(timeout: Any) -> None:
    data = {"version": 1, "tasks": {"a": {"action": "core.noop", "timeout": timeout}}}
    _agrees(data)


def test_every_seed_is_fast_valid() -> None:
    # The fast path is on (a new `pattern` in the schema turns it off until it is
    # reviewed in schema._FAST_PATTERNS) and taken for ordinary workflows.
    assert schema._fast_validator() is not None
    for text in SEEDS:
        document, _ = parse_yaml(text, "seed.yaml")
        assert document is not None
        assert schema._fast_valid(document.data)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_task_value_agrees(value: Any) -> None:
    _agrees({"version": 1, "tasks": {"a": value}})
    _agrees({"version": 1, "tasks": {"a": {"action": "core.noop", "input": value}}})


@pytest.mark.parametrize(
    "name", ["nightly", "x-y_z", "a" * 64, "a" * 65, "nightly\n", "1st", "été", ""], ids=repr
)
def test_schedule_names_agree(name: str) -> None:
    schedule = {"cron": "0 3 * * *"}
    _agrees({"version": 1, "tasks": {"a": {"action": "core.noop"}}, "schedules": {name: schedule}})
