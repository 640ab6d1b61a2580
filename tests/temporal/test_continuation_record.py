"""The continuation record a run continued as new carries (`InterpreterInput.carried`):
typed when read, the plain JSON of older releases read as before, and a malformed one
refused with a precise error instead of a workflow task that fails for ever."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from temporalio.exceptions import ApplicationError

from engine.coordinator import DispatchAction, ExecutionRef
from engine.temporal.carried import Carried, CarriedSecrets, carried_of, carried_record
from engine.temporal.types import InterpreterInput

DISPATCH = DispatchAction(ExecutionRef(4, "approve", 1, 0), 1, "core.approval", {"timeout": 60})
WAIT = msgspec.to_builtins(DISPATCH)


def _input(carried: dict[str, Any]) -> InterpreterInput:
    return InterpreterInput("run", "wf", "1", "version: 1", {}, carried=carried)


def test_a_record_of_the_previous_release_reads_as_it_was_written() -> None:
    written = {"trace": [7, 3, 2], "drain_paused": True, "waits": [[WAIT, 1500]]}
    assert carried_of(_input(written)) == Carried(
        trace=(7, 3, 2), drain_paused=True, waits=[(DISPATCH, 1500)]
    )


def test_a_record_with_secrets_reads_them_typed() -> None:
    written = {"secrets": {"named": {"token": "t0k"}, "inputs": ["password"], "masked": ["t0k"]}}
    assert carried_of(_input(written)) == Carried(
        secrets=CarriedSecrets({"token": "t0k"}, ["password"], ["t0k"])
    )
    assert carried_record(carried_of(_input(written))) == written


def test_a_child_record_lists_what_its_parent_masks() -> None:
    assert carried_of(_input({"masked": ["t0k"]})) == Carried(masked=["t0k"])
    assert carried_record(Carried(masked=[])) == {}  # as a child passed nothing wrote


def test_a_new_run_carries_nothing() -> None:
    assert carried_of(_input({})) == Carried()


def test_a_record_of_a_simulation_before_it_left_the_workflow_still_reads() -> None:
    # Simulations once carried their mocks, sequence and virtual clock here.
    old = {"trace": [3, 1, 1], "mocks": [{"task": "a"}], "sequence": [], "virtual_ms": 5}
    assert carried_of(_input(old)) == Carried(trace=(3, 1, 1))


def test_what_is_written_reads_back() -> None:
    record = Carried(trace=(9, 4, 4), waits=[(DISPATCH, None)], limits_asked=True)
    assert carried_of(_input(carried_record(record))) == record
    assert carried_record(record)["waits"] == [(WAIT, None)]  # the dispatch, as JSON


@pytest.mark.parametrize(
    ("carried", "where"),
    [
        ({"trace": "7"}, "$.trace"),
        ({"trace": [1, 2]}, "$.trace"),
        ({"drain_paused": "yes"}, "$.drain_paused"),
        ({"waits": [[WAIT]]}, "$.waits[0]"),
        ({"waits": [["not a dispatch", 5]]}, "$.waits[0][0]"),
        ({"waits": [[{**WAIT, "attempt": "1"}, 5]]}, "$.waits[0][0].attempt"),
        ({"limits_asked": "yes"}, "$.limits_asked"),
        ({"secrets": {"named": {"token": 7}}}, "$.secrets.named"),
        ({"secrets": ["t0k"]}, "$.secrets"),
        ({"masked": "t0k"}, "$.masked"),
    ],
)
def test_a_malformed_record_fails_the_run_at_once(carried: dict[str, Any], where: str) -> None:
    with pytest.raises(ApplicationError) as refused:
        carried_of(_input(carried))
    assert refused.value.type == "ContinuationInvalid" and refused.value.non_retryable
    assert "the continuation record is malformed" in refused.value.message
    assert where in refused.value.message
