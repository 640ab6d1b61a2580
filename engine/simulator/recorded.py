"""Action attempts as Temporal recorded them, for an export the trace cannot make exact.

The trace keeps a result only as a summary cut at 1 KiB, and a failed with-items
execution's event carries no result at all, nor does any event tell which items
succeeded with what. Temporal's history holds every attempt's request and outcome (an
action's, a child run's, a wait's answer delivered by an Update); the
binding reads them back (engine/temporal/recorded_attempts.py) as `RecordedAttempt`s,
already masked like the trace, and `recorded_mocks` turns one execution's attempts into
mock entries: per item (or for the execution), its failed attempts in order, then its
last outcome.

Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import Any, NamedTuple

import msgspec


class ExecutionName(NamedTuple):
    """How the run names an execution outside the coordinator: a child run's id holds
    its task and iteration (LANGUAGE.md §6: iterations are counted per task), not its
    execution id."""

    task: str
    iteration: int


class RecordedAttempt(msgspec.Struct, frozen=True):
    """One attempt of an action execution (or of one of its items) and how it ended."""

    execution: int
    attempt: int
    item: int | None = None
    result: Any = None
    # The failure as a mock gives it ({type, message, details}); None: it succeeded.
    error: dict[str, Any] | None = None
    # False: it never ended (canceled, or still running when the history was read).
    ended: bool = True


class RecordedRun(msgspec.Struct, frozen=True):
    """The attempts read from a run's history, by execution id; `missing` says why some
    could not be read (history gone, too large, too slow), or is empty."""

    attempts: Mapping[int, Sequence[RecordedAttempt]]
    missing: str = ""


def recorded_mocks(
    where: Mapping[str, Any], attempts: Iterable[RecordedAttempt]
) -> list[dict[str, Any]]:
    """Mock entries that give each item (or the execution) its attempts as recorded:
    runs of failed attempts with the same error become one entry used `times` times,
    then the last attempt's result or error (or `running`: it never ended)."""
    mocks: list[dict[str, Any]] = []
    by_item = sorted(attempts, key=lambda a: (-1 if a.item is None else a.item, a.attempt))
    for item, grouped in groupby(by_item, key=lambda a: a.item):
        at = dict(where) if item is None else {**where, "item": item}
        *before, last = list(grouped)
        for error, same in groupby(before, key=lambda a: a.error):  # alike: one entry
            count = len(list(same))
            mocks.append({**at, "status": "failed", "error": _mock_error(error), "times": count})
        if not last.ended:
            mocks.append({**at, "status": "running"})
        elif last.error is None:
            mocks.append({**at, "result": last.result})
        else:
            mocks.append({**at, "status": "failed", "error": _mock_error(last.error)})
    return mocks


def _mock_error(error: Mapping[str, Any] | None) -> dict[str, Any]:
    found = error or {}
    shown = {"type": str(found.get("type") or "failed"), "message": str(found.get("message", ""))}
    if found.get("details") is not None:
        shown["details"] = found["details"]
    return shown
