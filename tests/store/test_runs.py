"""Runs: idempotent creation, newest-first pages, API status changes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from engine.store import (
    InvalidCursor,
    NewRun,
    RunStatus,
    UnknownWorkflowVersion,
    create_run,
    encode_cursor,
    get_run,
    list_runs,
    update_run_status,
)
from tests.store.helpers import opened_pool, register, run, start_run, unique

pytestmark = pytest.mark.postgres


def test_a_new_run_is_queued_with_its_input(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            created = await start_run(pool, input={"url": "http://x"})
            assert created.status is RunStatus.QUEUED
            assert created.existing is False
            assert (created.last_seq, created.progress_completed) == (0, 0)
            assert await get_run(pool, created.run_id) == created
            assert await get_run(pool, unique("missing")) is None

    run(scenario())


def test_an_idempotency_key_returns_the_first_run(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            name = unique("wf")
            first = await start_run(pool, name, idempotency_key="key-1")
            again = await start_run(pool, name, idempotency_key="key-1", input={"other": 1})
            assert again.existing is True
            assert again.run_id == first.run_id
            assert again.input == first.input == {}
            fresh = await start_run(pool, name, idempotency_key="key-2")
            assert fresh.existing is False and fresh.run_id != first.run_id
            elsewhere = await start_run(pool, unique("wf"), idempotency_key="key-1")
            assert elsewhere.existing is False  # keys are per workflow
            keyless = [await start_run(pool, name) for _ in range(2)]
            assert not any(record.existing for record in keyless)

    run(scenario())


def test_concurrent_requests_with_one_key_make_one_run(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url, max_size=6) as pool:
            name = unique("wf")
            version = await register(pool, name)
            requests = [
                NewRun(
                    run_id=unique("run"),
                    workflow_name=name,
                    workflow_version=version.version,
                    task_queue="segue",
                    idempotency_key="same",
                )
                for _ in range(6)
            ]
            results = await asyncio.gather(*(create_run(pool, request) for request in requests))
            assert len({result.run_id for result in results}) == 1
            assert sum(not result.existing for result in results) == 1

    run(scenario())


def test_a_run_of_an_unregistered_version_is_refused(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            name = unique("wf")
            await register(pool, name)
            request = NewRun(
                run_id=unique("run"), workflow_name=name, workflow_version=7, task_queue="q"
            )
            with pytest.raises(UnknownWorkflowVersion):
                await create_run(pool, request)

    run(scenario())


def test_list_runs_pages_newest_first(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            name = unique("listed")
            created = [await start_run(pool, name) for _ in range(7)]
            await update_run_status(pool, created[2].run_id, RunStatus.RUNNING)
            newest_first = [record.run_id for record in reversed(created)]

            seen: list[str] = []
            cursor: str | None = None
            pages = 0
            while True:
                page = await list_runs(pool, workflow=name, limit=3, before=cursor)
                seen += [record.run_id for record in page.runs]
                pages += 1
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert seen == newest_first
            assert pages == 3

            running = await list_runs(pool, workflow=name, status="RUNNING")
            assert [record.run_id for record in running.runs] == [created[2].run_id]
            queued = await list_runs(pool, workflow=name, status=RunStatus.QUEUED, limit=10)
            assert len(queued.runs) == 6 and queued.next_cursor is None

            everything = await list_runs(pool, limit=1000)
            stamps = [(record.created_at, record.run_id) for record in everything.runs]
            assert stamps == sorted(stamps, reverse=True)

            for garbage in ("nonsense", encode_cursor(5), ""):
                with pytest.raises(InvalidCursor):
                    await list_runs(pool, before=garbage)
            with pytest.raises(ValueError):
                await list_runs(pool, limit=0)

    run(scenario())


def test_status_updates_record_ids_and_times_and_never_leave_a_terminal_status(
    postgres_url: str,
) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            created = await start_run(pool)
            running = await update_run_status(
                pool,
                created.run_id,
                "RUNNING",
                temporal_workflow_id="wf-id",
                temporal_run_id="t-run-1",
            )
            assert running is not None
            assert running.status is RunStatus.RUNNING
            assert (running.temporal_workflow_id, running.temporal_run_id) == ("wf-id", "t-run-1")
            assert running.started_at is not None and running.completed_at is None
            assert running.updated_at >= created.updated_at

            cancelled = await update_run_status(
                pool, created.run_id, RunStatus.CANCELLED, failure={"reason": "by request"}
            )
            assert cancelled is not None and cancelled.status is RunStatus.CANCELLED
            assert cancelled.completed_at is not None
            assert cancelled.failure == {"reason": "by request"}
            assert cancelled.started_at == running.started_at

            for late in (RunStatus.RUNNING, RunStatus.COMPLETED):
                after = await update_run_status(pool, created.run_id, late)
                assert after is not None
                assert after.status is RunStatus.CANCELLED
                assert after.completed_at == cancelled.completed_at

            assert await update_run_status(pool, unique("missing"), "RUNNING") is None

    run(scenario())


def test_explicit_times_are_kept(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            created = await start_run(pool)
            started = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
            ended = datetime(2030, 1, 2, 3, 5, 0, tzinfo=UTC)
            await update_run_status(pool, created.run_id, "RUNNING", started_at=started)
            record = await update_run_status(pool, created.run_id, "TIMED_OUT", completed_at=ended)
            assert record is not None
            assert (record.started_at, record.completed_at) == (started, ended)

    run(scenario())
