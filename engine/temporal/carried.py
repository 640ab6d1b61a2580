"""The continuation record: what a run continued as new carries beside its coordinator
snapshot and timers (`InterpreterInput.carried`), and what a child run is started with.

It travels as plain JSON and is read and written only here, so records of older releases
read (fields they lack take their defaults; fields since dropped are ignored), what is
written is the very JSON the dicts before it wrote, and a malformed record fails the run
at once, saying where, instead of failing each workflow task that tries to decode it.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import msgspec

    from engine.coordinator import DispatchAction
    from engine.temporal.types import InterpreterInput


class CarriedSecrets(msgspec.Struct):
    """Behaviour 3: a run's named secrets and what its trace masks (run_secrets.py).
    Every field is written, as the dict before it wrote them all."""

    named: dict[str, str] = {}
    inputs: list[str] = []  # the workflow's secret inputs
    masked: list[str] = []  # every value the masker knows


class Carried(msgspec.Struct, omit_defaults=True):
    """What a run continued as new carries beside its coordinator snapshot."""

    trace: tuple[int, int, int] = (1, 0, 0)  # next trace sequence, started, finished
    drain_paused: bool = False  # paused only to continue as new: resume at once
    waits: list[tuple[DispatchAction, int | None]] = []  # open waits: dispatch, ms left
    # (`mocks`, `sequence` and `virtual_ms` were here for simulations, which now run as
    # any run does: engine/temporal/simulation.py. A record that has them still reads.)
    secrets: CarriedSecrets | None = None
    # Behaviour 3, a child run's first execution: the values its parent masks that it was
    # given (run_secrets.py `passed_into`); it masks them too.
    masked: list[str] = []
    # Behaviour 3: the run may hold or wait for a concurrency limit: it releases at its
    # end (engine/temporal/limits.py).
    limits_asked: bool = False


def carried_of(params: InterpreterInput) -> Carried:
    """The continuation record of a start input (empty for a new run)."""
    try:
        return msgspec.convert(params.carried, Carried)
    except msgspec.ValidationError as error:
        # Fail the run at once rather than retrying its workflow task for ever.
        raise ApplicationError(
            f"the continuation record is malformed: {error}",
            type="ContinuationInvalid",
            non_retryable=True,
        ) from None


def carried_record(carried: Carried) -> dict[str, Any]:
    """The record as the start input carries it."""
    record: dict[str, Any] = msgspec.to_builtins(carried)
    return record
