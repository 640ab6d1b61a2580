"""Reconcile the runs nobody reads (issue 11, api/run_sweep.py): a run ended from
Temporal's side is written to the store by the API's background sweep, with no request
reading it; the sweep outlives Temporal going away; several API processes sweeping at
once write each end once, and only one of them sweeps at a time.

The store is read directly here: the API's run routes would reconcile on read."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from prometheus_client import REGISTRY

from api.app import create_app
from api.config import ApiConfig, ConfigError
from engine.store import NewRun, RunStatus, create_run, open_pool
from engine.store.sweep import SWEEP_LOCK
from engine.temporal.devserver import free_port, start_dev_server
from engine.temporal.worker import connect
from tests.api.conftest import TOKEN, Harness, ServedApp, api_catalog, unique
from tests.api.test_reconcile import stored, temporal_history_length
from tests.api.test_runs import SLEEPER

TICK = 0.3
# A tick, Temporal's visibility catching up (about a second on the dev server), slack.
WITHIN = 20.0


def sweeps(outcome: str) -> float:
    return REGISTRY.get_sample_value("segue_sweeps_total", {"outcome": outcome}) or 0.0


def swept_runs() -> float:
    return REGISTRY.get_sample_value("segue_sweep_runs_reconciled_total") or 0.0


def until(check: Callable[[], object], what: str, timeout: float = WITHIN) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.1)


@contextmanager
def sweeper(harness: Harness, **overrides: object) -> Iterator[None]:
    """An API process of its own (no request is sent to it) sweeping every `TICK`."""
    config = ApiConfig(
        database_url=harness.database_url,
        temporal_address=harness.temporal_address,
        task_queue=harness.task_queue,
        tokens=(TOKEN,),
        reconcile_seconds=TICK,
    )
    served = ServedApp(create_app(replace(config, **overrides), catalog=api_catalog()))
    served.start()
    try:
        yield
    finally:
        served.stop()


def terminate(harness: Harness, run_id: str, address: str | None = None) -> None:
    async def go() -> None:
        client = await connect(address or harness.temporal_address)
        await client.get_workflow_handle(run_id).terminate(reason="from Temporal's side")

    harness.loop.run(go())


def started_sleepers(harness: Harness, count: int) -> list[str]:
    name = unique("sweep")
    harness.register(name, SLEEPER)
    run_ids = [harness.start(name) for _ in range(count)]
    for run_id in run_ids:
        harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED")
    return run_ids


def updated_at(harness: Harness, run_id: str) -> datetime:
    with psycopg.connect(harness.database_url) as conn:
        row = conn.execute("SELECT updated_at FROM runs WHERE run_id = %s", (run_id,)).fetchone()
    assert row is not None
    moment: datetime = row[0]
    return moment


def test_a_run_terminated_from_temporal_that_nobody_reads_is_written_terminated(
    harness: Harness,
) -> None:
    running, terminated = started_sleepers(harness, 2)
    before = swept_runs()
    with sweeper(harness):
        terminate(harness, terminated)
        until(lambda: stored(harness, terminated)[0] == "TERMINATED", "the sweep wrote the end")
        # Temporal's history length, as reconcile on read writes it; the other run runs.
        assert stored(harness, terminated) == (
            "TERMINATED",
            temporal_history_length(harness, terminated),
        )
        assert stored(harness, running)[0] == "RUNNING"
    assert swept_runs() >= before + 1
    with psycopg.connect(harness.database_url) as conn:
        failure = conn.execute(
            "SELECT failure, completed_at FROM runs WHERE run_id = %s", (terminated,)
        ).fetchone()
    assert failure is not None and failure[1] is not None
    assert failure[0]["temporalCode"] == "TERMINATED"


def test_two_sweepers_write_each_end_once_and_one_sweeps_at_a_time(harness: Harness) -> None:
    run_ids = started_sleepers(harness, 3)
    with sweeper(harness), sweeper(harness):
        # While another holder has the sweep's lock, neither sweeps: each skips its turn.
        with psycopg.connect(harness.database_url, autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(%s, %s)", SWEEP_LOCK)
            skipped = sweeps("skipped")
            for run_id in run_ids:
                terminate(harness, run_id)
            until(lambda: sweeps("skipped") >= skipped + 6, "both sweepers skip turns")
            time.sleep(2)  # visibility has caught up: a sweep would have written by now
            assert {stored(harness, run_id)[0] for run_id in run_ids} == {"RUNNING"}
            holder.execute("SELECT pg_advisory_unlock(%s, %s)", SWEEP_LOCK)
        until(
            lambda: {stored(harness, run_id)[0] for run_id in run_ids} == {"TERMINATED"},
            "the ends are written once the lock is free",
        )
        written = [updated_at(harness, run_id) for run_id in run_ids]
        swept = sweeps("swept")
        until(lambda: sweeps("swept") >= swept + 6, "both go on sweeping")
        # Idempotent: later sweeps, by either process, found nothing left to write.
        assert [updated_at(harness, run_id) for run_id in run_ids] == written


def test_the_sweep_outlives_temporal_going_away(harness: Harness, tmp_path: Path) -> None:
    port = free_port()
    db_file = tmp_path / "temporal.db"
    server = start_dev_server(db_file=db_file, port=port, log_path=tmp_path / "temporal.log")
    name = unique("sweep_outage")
    harness.register(name, SLEEPER)
    run_id = f"run-{uuid.uuid4().hex}"

    async def start_run() -> None:
        # No worker polls this queue: the execution stays open until terminated.
        client = await connect(server.address)
        await client.start_workflow("Nothing", id=run_id, task_queue=f"none-{run_id}")
        pool = await open_pool(harness.database_url)
        try:
            await create_run(
                pool,
                NewRun(
                    run_id=run_id,
                    workflow_name=name,
                    workflow_version=1,
                    task_queue=f"none-{run_id}",
                    status=RunStatus.RUNNING,
                ),
            )
        finally:
            await pool.close()

    try:
        harness.loop.run(start_run())
        with sweeper(harness, temporal_address=server.address, temporal_timeout_seconds=2.0):
            server.stop()
            failed = sweeps("failed")
            until(lambda: sweeps("failed") >= failed + 2, "ticks fail while Temporal is away")
            server = start_dev_server(
                db_file=db_file, port=port, log_path=tmp_path / "temporal.log"
            )
            terminate(harness, run_id, server.address)
            until(lambda: stored(harness, run_id)[0] == "TERMINATED", "the sweep came back")
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0", 0.0), ("30", 30.0), ("0.5", 0.5), (" 5 ", 5.0)],
)
def test_the_sweep_interval_is_read_from_the_environment(raw: str, expected: float) -> None:
    config = ApiConfig.from_env({"SEGUE_RECONCILE_SECONDS": raw}, tokens=(TOKEN,))
    config.check()
    assert config.reconcile_seconds == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("soon", "must be a number of seconds, got 'soon'"),
        ("nan", "must be a finite number of seconds"),
        ("inf", "must be a finite number of seconds"),
        ("-1", "must be 0 (off) or 0.1..86400 seconds, got -1"),
        ("0.01", "must be 0 (off) or 0.1..86400 seconds, got 0.01"),
        ("100000", "must be 0 (off) or 0.1..86400 seconds, got 100000"),
    ],
)
def test_a_sweep_interval_out_of_bounds_is_refused(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match="SEGUE_RECONCILE_SECONDS") as caught:
        ApiConfig.from_env({"SEGUE_RECONCILE_SECONDS": raw}, tokens=(TOKEN,)).check()
    assert message in str(caught.value)


def test_the_sweep_is_on_by_default() -> None:
    assert ApiConfig.from_env({}).reconcile_seconds == 30.0
