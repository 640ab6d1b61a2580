"""`GET /runs/{runId}/export`: a run as a `segue simulate` case (engine/simulator/export.py),
built from the stored trace, the run row and its workflow version; where the trace does
not hold an execution's outcomes whole (a result, a child run's output or a wait's
answer over 1 KiB, the items of a failed with-items execution), from the attempts
Temporal's history holds (engine/temporal/recorded_attempts.py)."""

from __future__ import annotations

from typing import Any, Final

from api.problems import ApiProblem
from api.services import Services
from engine.simulator.export import RunRecording, executions_to_read, export_case
from engine.simulator.recorded import ExecutionName, RecordedRun
from engine.store import RunRecord, WorkflowVersion, trace_event_json, trace_page
from engine.store.trace import MAX_PAGE_SIZE

# A case is read by people and replayed by the simulator: past this many trace events
# (a 50,000-iteration loop) an export is refused rather than built in the API's memory.
MAX_EXPORT_EVENTS: Final = 100_000
BUSY: Final = "another export was reading a run's Temporal history; export again for the exact case"


async def run_case(services: Services, run: RunRecord, version: WorkflowVersion) -> dict[str, Any]:
    """The case of a run; 409 EXPORT_TOO_LARGE past MAX_EXPORT_EVENTS trace events."""
    if run.last_seq > MAX_EXPORT_EVENTS:
        raise ApiProblem(
            409,
            "EXPORT_TOO_LARGE",
            f"the run has {run.last_seq} trace events; an export takes at most {MAX_EXPORT_EVENTS}",
        )
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await trace_page(services.pool, run.run_id, after, MAX_PAGE_SIZE)
        events.extend(trace_event_json(record) for record in page)
        if len(page) < MAX_PAGE_SIZE or len(events) >= MAX_EXPORT_EVENTS:
            break
        after = page[-1].seq
    program = await services.versions.program(version)
    recording = RunRecording(
        run_id=run.run_id,
        workflow_name=run.workflow_name,
        workflow_version=run.workflow_version,
        workflow_yaml=version.yaml,
        status=str(run.status),
        input=run.input,
        output=run.output,
        rerun_of=run.rerun_of,
        rerun_from_failed=run.rerun_from_failed,
    )
    wanted = executions_to_read(program.spec, events)
    recorded = await _read_history(services, run.run_id, wanted) if wanted else None
    return export_case(recording, program.spec, events, recorded)


async def _read_history(
    services: Services, run_id: str, wanted: dict[int, ExecutionName]
) -> RecordedRun:
    """The attempts from the run's history, unless another export is reading one: then
    the case is made from the trace and says so (asking again later gives it whole)."""
    if services.history_reads.locked():
        return RecordedRun({}, BUSY)
    # Imported here, not at the API's start: it brings the workflow code and its sandbox
    # runner, which only an export that reads a history needs.
    from engine.temporal.recorded_attempts import recorded_attempts

    async with services.history_reads:
        return await recorded_attempts(services.temporal, run_id, wanted)
