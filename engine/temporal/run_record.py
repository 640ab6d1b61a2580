"""What a run was really given, read back from Temporal's history.

Segue's PostgreSQL keeps a run's input and its rerun point with secret values masked
(`***`): the store is read by people and backed up like any database, and only
Temporal's payloads are sealed by the codec. What a rerun needs in clear — the input
the run started with, the context a failed run stopped in — is read here from the
run's history through a client that holds the codec, so it is opened only by the API,
never written anywhere else.

- The start input: every execution of a run starts with an `InterpreterInput` whose
  `input` is the run's input (continue-as-new carries it unchanged), so the latest
  execution's first event is enough: one short page, whatever the history's length.
- The rerun point: a failed run with secrets records the real one as the second detail
  of its failure (the close event of its latest execution); one without secrets stores
  it in clear, and needs no history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistoryEventFilterType

from engine.temporal.client import translated_errors
from engine.temporal.types import REAL_RERUN_KEY


class RunRecordMissing(Exception):
    """The run's history does not hold what was asked (gone by retention, or never)."""


async def started_input(client: Client, run_id: str) -> dict[str, Any]:
    """The input the run was started with, as its workflow received it."""
    async with translated_errors():
        async for event in client.get_workflow_handle(run_id).fetch_history_events(page_size=1):
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                break
            attributes = event.workflow_execution_started_event_attributes
            params = await _first(client, attributes.input)
            given = params.get("input") if isinstance(params, Mapping) else None
            if isinstance(given, dict):
                return given
            break
    raise RunRecordMissing(f"the history of run {run_id!r} does not hold its start input")


async def failed_rerun_point(client: Client, run_id: str) -> Any:
    """The real rerun point of a failed run: the second detail of its failure, which a
    run with secrets records (engine/temporal/continuation.py `real_rerun_point`); None
    when the run recorded none (it had no secrets: the store's point is the real one)."""
    async with translated_errors():
        handle = client.get_workflow_handle(run_id)
        async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        ):
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                continue
            details = event.workflow_execution_failed_event_attributes.failure
            payloads = list(details.application_failure_info.details.payloads)
            if len(payloads) < 2:
                continue
            second = (await client.data_converter.decode(payloads[1:2]))[0]
            if isinstance(second, Mapping) and REAL_RERUN_KEY in second:
                return second[REAL_RERUN_KEY]
    return None


async def _first(client: Client, payloads: Payloads) -> Any:
    """The first value of the payloads, decoded (opened by the codec) as plain JSON."""
    if not payloads.payloads:
        return None
    values = await client.data_converter.decode(list(payloads.payloads)[:1])
    return values[0] if values else None


__all__ = ["REAL_RERUN_KEY", "RunRecordMissing", "failed_rerun_point", "started_input"]
