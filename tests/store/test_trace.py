"""The trace: exactly-once appends, pages by seq, notifications, and a run projection
that retried or late writes cannot roll back."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from engine.store import (
    RunNotFound,
    RunProjection,
    RunStatus,
    TraceEvent,
    TraceListener,
    append_trace,
    get_run,
    listen_trace,
    trace_event_json,
    trace_page,
    update_run_status,
)
from tests.store.helpers import opened_pool, run, start_run, unique

pytestmark = pytest.mark.postgres

T0 = 1_700_000_000_000


def task_event(seq: int, node: str = "check", kind: str = "STARTED") -> TraceEvent:
    return TraceEvent(
        seq=seq,
        type=kind,
        level="info",
        timestamp_ms=T0 + seq,
        node_id=node,
        message=f"{node} {kind.lower()}",
        data={"iteration": 1, "route": 0, "attempt": 1},
    )


def run_event(seq: int, kind: str, level: str = "info") -> TraceEvent:
    return TraceEvent(seq=seq, type=kind, level=level, timestamp_ms=T0 + seq)


def test_appending_is_exactly_once_and_pages_come_in_seq_order(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            first = [run_event(1, "WORKFLOW_STARTED"), task_event(2), task_event(3)]
            assert await append_trace(pool, run_id, first) == 3
            assert await append_trace(pool, run_id, first) == 0  # a retried write
            overlapping = [task_event(seq) for seq in (3, 4, 5)]
            assert await append_trace(pool, run_id, list(reversed(overlapping))) == 2

            page = await trace_page(pool, run_id, after_seq=0)
            assert [record.seq for record in page] == [1, 2, 3, 4, 5]
            assert page[0].node_id is None and page[1].node_id == "check"
            assert [record.seq for record in await trace_page(pool, run_id, 2, limit=2)] == [3, 4]
            assert await trace_page(pool, run_id, 5) == []

            record = await get_run(pool, run_id)
            assert record is not None and record.last_seq == 5

    run(scenario())


def test_concurrent_retries_of_one_batch_insert_it_once(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url, max_size=5) as pool:
            run_id = (await start_run(pool)).run_id
            batch = [task_event(seq) for seq in range(1, 51)]
            counts = await asyncio.gather(*(append_trace(pool, run_id, batch) for _ in range(5)))
            assert sum(counts) == 50
            page = await trace_page(pool, run_id, 0, limit=1000)
            assert [record.seq for record in page] == list(range(1, 51))

    run(scenario())


def test_the_json_shape_of_an_event(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            failed = TraceEvent(
                seq=2,
                type="FAILED",
                level="error",
                timestamp_ms=T0,
                node_id="check",
                error={"message": "boom", "code": "E1"},
                output_summary='{"status":500}',
                data={"iteration": 2, "route": 1, "attempt": 3},
            )
            await append_trace(pool, run_id, [run_event(1, "WORKFLOW_STARTED"), failed])
            started, shown_failed = [trace_event_json(r) for r in await trace_page(pool, run_id, 0)]
            assert started == {
                "id": "000000000001",
                "runId": run_id,
                "type": "WORKFLOW_STARTED",
                "level": "info",
                "timestamp": "2023-11-14T22:13:20.001Z",
            }
            assert shown_failed == {
                "id": "000000000002",
                "runId": run_id,
                "nodeId": "check",
                "type": "FAILED",
                "level": "error",
                "timestamp": "2023-11-14T22:13:20.000Z",
                "error": {"message": "boom", "code": "E1"},
                "outputSummary": '{"status":500}',
                "data": {"iteration": 2, "route": 1, "attempt": 3},
            }

    run(scenario())


def test_the_schema_refuses_malformed_events(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            with pytest.raises(RunNotFound):
                await append_trace(pool, unique("missing"), [task_event(1)])
            for bad in (
                TraceEvent(
                    seq=1, type="WORKFLOW_STARTED", level="info", timestamp_ms=T0, node_id="check"
                ),
                TraceEvent(seq=1, type="STARTED", level="info", timestamp_ms=T0),
                TraceEvent(seq=1, type="EXPLODED", level="info", timestamp_ms=T0, node_id="a"),
                TraceEvent(seq=1, type="STARTED", level="loud", timestamp_ms=T0, node_id="a"),
                TraceEvent(seq=0, type="STARTED", level="info", timestamp_ms=T0, node_id="a"),
            ):
                with pytest.raises(psycopg.errors.CheckViolation):
                    await append_trace(pool, run_id, [bad])
            assert await trace_page(pool, run_id, 0) == []

    run(scenario())


def test_a_transition_event_is_stored_as_a_task_event(postgres_url: str) -> None:
    """Migration 0010 admits TRANSITION; like every task event it names its task."""

    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            data = {
                "execution": 1, "iteration": 1, "route": 0, "transition": 0, "when": False,
                "taken": False, "published": [], "targets": ["report"], "commands": [],
            }  # fmt: skip
            with pytest.raises(psycopg.errors.CheckViolation):
                await append_trace(
                    pool,
                    run_id,
                    [TraceEvent(seq=1, type="TRANSITION", level="info", timestamp_ms=T0)],
                )
            event = TraceEvent(
                seq=1, type="TRANSITION", level="info", timestamp_ms=T0, node_id="check", data=data
            )
            assert await append_trace(pool, run_id, [event]) == 1
            (stored,) = await trace_page(pool, run_id, 0)
            assert stored.type == "TRANSITION" and stored.node_id == "check"
            assert stored.data == data

    run(scenario())


def test_a_committed_append_is_notified_within_a_second(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool, TraceListener(postgres_url) as listener:
            run_id = (await start_run(pool, run_id=unique("run:with:colons"))).run_id
            notifications = aiter(listener)
            await append_trace(pool, run_id, [task_event(seq) for seq in (1, 2, 3)])
            # One notification per insert, carrying the highest seq it added.
            assert await asyncio.wait_for(anext(notifications), timeout=1.0) == (run_id, 3)
            await append_trace(pool, run_id, [task_event(3)])  # nothing new: no notice
            await append_trace(pool, run_id, [task_event(4)])
            assert await asyncio.wait_for(anext(notifications), timeout=1.0) == (run_id, 4)

    run(scenario())


def test_listen_trace_yields_run_and_seq(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            stream = listen_trace(postgres_url)
            first = asyncio.ensure_future(anext(stream))
            # The generator starts listening on its first step; keep appending until heard.
            for seq in range(1, 50):
                await append_trace(pool, run_id, [task_event(seq)])
                done, _ = await asyncio.wait({first}, timeout=0.05)
                if done:
                    break
            heard_run, heard_seq = await asyncio.wait_for(first, timeout=1.0)
            assert heard_run == run_id and 1 <= heard_seq <= seq
            await stream.aclose()

    run(scenario())


def test_the_projection_follows_fresh_writes_and_ignores_stale_ones(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            started = RunProjection(status="RUNNING", started_at_ms=T0, progress_total=4)
            early = [run_event(1, "WORKFLOW_STARTED"), task_event(2)]
            await append_trace(pool, run_id, early, started)
            progress = RunProjection(progress_completed=2, history_length=40)
            await append_trace(pool, run_id, [task_event(3, kind="COMPLETED")], progress)
            done = RunProjection(
                status="COMPLETED",
                output={"healthy": True},
                progress_completed=4,
                completed_at_ms=T0 + 9,
                history_length=60,
            )
            await append_trace(pool, run_id, [run_event(9, "WORKFLOW_COMPLETED")], done)
            final = await get_run(pool, run_id)
            assert final is not None
            assert final.status is RunStatus.COMPLETED
            assert (final.progress_completed, final.progress_total) == (4, 4)
            assert final.output == {"healthy": True}
            assert final.last_seq == 9

            # A retried older write (same seqs, older projection) changes nothing.
            assert await append_trace(pool, run_id, early, started) == 0
            # A late older write with new events still adds them, but not its projection.
            late = [task_event(5, node="side")]
            assert await append_trace(pool, run_id, late, RunProjection(status="RUNNING")) == 1
            # A fresh write proposing a non-terminal status cannot reopen the run.
            fresh = RunProjection(status="RUNNING", progress_completed=1, history_length=70)
            await append_trace(pool, run_id, [task_event(10, kind="PROGRESS")], fresh)

            after = await get_run(pool, run_id)
            assert after is not None
            assert after.status is RunStatus.COMPLETED
            assert after.completed_at == final.completed_at
            assert after.output == {"healthy": True}
            assert after.last_seq == 10
            assert after.history_length == 70
            assert after.started_at is not None
            assert after.started_at == final.started_at

    run(scenario())


def test_the_workflow_has_the_last_word_between_terminal_statuses(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            await append_trace(
                pool, run_id, [run_event(1, "WORKFLOW_STARTED")], RunProjection(status="RUNNING")
            )
            # The API recorded CANCELLED once Temporal accepted the cancel, but the
            # workflow had already finished its last task and completed.
            await update_run_status(pool, run_id, RunStatus.CANCELLED)
            completed = RunProjection(status="COMPLETED", output=1, completed_at_ms=T0 + 2)
            await append_trace(pool, run_id, [run_event(2, "WORKFLOW_COMPLETED")], completed)
            record = await get_run(pool, run_id)
            assert record is not None
            assert record.status is RunStatus.COMPLETED and record.output == 1

    run(scenario())


def test_a_projection_without_events_applies_and_the_api_keeps_to_its_ids(
    postgres_url: str,
) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            assert await append_trace(pool, run_id, [], RunProjection(temporal_run_id="t2")) == 0
            record = await get_run(pool, run_id)
            assert record is not None
            assert record.temporal_run_id == "t2" and record.last_seq == 0
            # The API's later mark with the first Temporal run id does not roll it back.
            marked = await update_run_status(pool, run_id, "RUNNING", temporal_run_id="t1")
            assert marked is not None
            assert (marked.status, marked.temporal_run_id) == (RunStatus.RUNNING, "t2")

    run(scenario())


def test_readers_see_events_only_without_gaps(postgres_url: str) -> None:
    """Writers may store a run's events out of order; a page stops at the first gap, so a
    cursor never moves past an event that is still on its way."""

    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            await append_trace(pool, run_id, [run_event(1, "WORKFLOW_STARTED")])
            late = TraceEvent(seq=3, type="STARTED", level="info", timestamp_ms=T0, node_id="b")
            await append_trace(pool, run_id, [late])
            assert [r.seq for r in await trace_page(pool, run_id, 0)] == [1]
            assert await trace_page(pool, run_id, 1) == []
            early = TraceEvent(seq=2, type="STARTED", level="info", timestamp_ms=T0, node_id="a")
            await append_trace(pool, run_id, [early])
            assert [r.seq for r in await trace_page(pool, run_id, 1)] == [2, 3]

    asyncio.run(scenario())


def test_the_apis_first_running_never_overwrites_what_the_workflow_wrote(
    postgres_url: str,
) -> None:
    """The API marks a run RUNNING once Temporal accepted its start; the run's workflow
    may have written first (QUEUED behind a concurrency limit, PAUSED). Its word stands;
    the Temporal ids still fill in. Without a workflow write, the mark applies."""

    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            for written in ("QUEUED", "PAUSED"):
                run_id = (await start_run(pool)).run_id
                projection = RunProjection(status=written, history_length=7)
                await append_trace(pool, run_id, [run_event(1, "WORKFLOW_STARTED")], projection)
                marked = await update_run_status(
                    pool, run_id, "RUNNING", temporal_run_id="t1", unless_the_workflow_wrote=True
                )
                assert marked is not None
                assert (marked.status, marked.temporal_run_id) == (RunStatus(written), "t1")
            # A projection without events still counts (its history length says whose).
            run_id = (await start_run(pool)).run_id
            await append_trace(pool, run_id, [], RunProjection(status="QUEUED", history_length=5))
            marked = await update_run_status(
                pool, run_id, "RUNNING", unless_the_workflow_wrote=True
            )
            assert marked is not None and marked.status is RunStatus.QUEUED
            # Nothing written yet: the API's mark is the run's status.
            run_id = (await start_run(pool)).run_id
            marked = await update_run_status(
                pool, run_id, "RUNNING", temporal_run_id="t1", unless_the_workflow_wrote=True
            )
            assert marked is not None and marked.status is RunStatus.RUNNING
            # A later workflow write moves on from there as before.
            await append_trace(
                pool, run_id, [run_event(1, "WORKFLOW_QUEUED")], RunProjection(status="QUEUED")
            )
            record = await get_run(pool, run_id)
            assert record is not None and record.status is RunStatus.QUEUED

    run(scenario())
