"""Reconcile on read (issues 11 and 18): the list and the run page show only what Temporal
has accepted, whatever the projection in PostgreSQL says, and write Temporal's end back
to it; an ended run's `historyLength` is Temporal's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg

from engine.temporal.client import describe_runs
from engine.temporal.worker import connect
from tests.api.conftest import Harness, unique
from tests.api.test_runs import SLEEPER

QUICK = """\
version: 1
tasks:
  hello:
    action: core.echo
    input: {greeting: hi}
"""


def listed(harness: Harness, name: str, **filters: str) -> list[dict[str, Any]]:
    answer = harness.client.get("/runs", params={"workflow": name, **filters})
    assert answer.status_code == 200, answer.text
    runs: list[dict[str, Any]] = answer.json()["runs"]
    return runs


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """The first truthy answer of `check` (Temporal's visibility lags a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def stored(harness: Harness, run_id: str) -> tuple[str, int]:
    with psycopg.connect(harness.database_url) as conn:
        row = conn.execute(
            "SELECT status, history_length FROM runs WHERE run_id = %s", (run_id,)
        ).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


def temporal_history_length(harness: Harness, run_id: str) -> int:
    async def describe() -> int:
        client = await connect(harness.temporal_address)
        return (await client.get_workflow_handle(run_id).describe()).history_length

    length: int = harness.loop.run(describe())
    return length


def test_the_list_shows_a_run_terminated_from_temporal_without_opening_it(
    harness: Harness,
) -> None:
    name = unique("reconcile_terminated")
    harness.register(name, SLEEPER)
    run_ids = [harness.start(name) for _ in range(3)]
    for run_id in run_ids:
        harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED")
    terminated = run_ids[1]

    async def terminate() -> None:
        client = await connect(harness.temporal_address)
        await client.get_workflow_handle(terminated).terminate(reason="from Temporal's side")

    harness.loop.run(terminate())
    assert stored(harness, terminated)[0] == "RUNNING"  # the workflow could not write it

    def terminated_in_list() -> dict[str, Any] | None:
        rows = {row["runId"]: row for row in listed(harness, name)}
        row = rows[terminated]
        return row if row["status"] == "TERMINATED" else None

    row = eventually(terminated_in_list)
    assert row, listed(harness, name)
    assert row["failure"]["temporalCode"] == "TERMINATED" and "completedAt" in row
    # The list wrote Temporal's end, and Temporal's history length, to the projection.
    length = temporal_history_length(harness, terminated)
    assert row["historyLength"] == length > 0
    assert stored(harness, terminated) == ("TERMINATED", length)
    # The others still run; the RUNNING filter leaves the terminated one out.
    assert {r["runId"] for r in listed(harness, name, status="RUNNING")} == {
        run_ids[0],
        run_ids[2],
    }
    page = harness.client.get(f"/runs/{terminated}").json()
    assert (page["status"], page["historyLength"]) == ("TERMINATED", length)


def test_a_terminal_projection_that_temporal_has_not_accepted_shows_running(
    harness: Harness,
) -> None:
    name = unique("reconcile_ahead")
    harness.register(name, SLEEPER)
    run_id = harness.start(name)
    harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED")
    # What issue 11 case 4 did: the final projection written, the completion refused.
    with psycopg.connect(harness.database_url) as conn:
        conn.execute(
            "UPDATE runs SET status = 'COMPLETED', completed_at = now(), output = '{}'"
            " WHERE run_id = %s",
            (run_id,),
        )
    page = harness.client.get(f"/runs/{run_id}").json()
    assert page["status"] == "RUNNING" and "completedAt" not in page and page["output"] is None
    row = eventually(lambda: [r for r in listed(harness, name) if r["status"] == "RUNNING"])
    assert [r["runId"] for r in row] == [run_id]
    assert listed(harness, name, status="COMPLETED") == []
    # It can still be cancelled, and then the projection follows Temporal.
    assert harness.client.post(f"/runs/{run_id}/cancel").status_code == 202
    final = harness.wait_for(run_id, lambda s: s["status"] != "RUNNING")
    assert final["status"] == "CANCELLED", final


def test_an_ended_run_shows_temporals_history_length(harness: Harness) -> None:
    name = unique("reconcile_length")
    harness.register(name, QUICK)
    run_id = harness.start(name)
    final = harness.wait_for(run_id)
    assert final["status"] == "COMPLETED"
    length = temporal_history_length(harness, run_id)
    assert harness.client.get(f"/runs/{run_id}").json()["historyLength"] == length
    row = eventually(lambda: [r for r in listed(harness, name) if r["historyLength"] == length])
    assert row, listed(harness, name)


def test_one_visibility_query_names_any_run_id_it_can_quote(harness: Harness) -> None:
    """Child run ids carry task names: spaces, accents, commas and brackets are quoted
    into the query as they are; an id with a quote is left to its run page."""
    suffix = unique("")
    odd = [f"run{suffix}.my task.1.0.1", f"run{suffix}.étape.1.0.1", f"run{suffix}.a,b) OR (x"]

    async def scenario() -> set[str]:
        client = await connect(harness.temporal_address)
        for run_id in odd:  # no worker polls this queue: they stay RUNNING
            await client.start_workflow("Nothing", id=run_id, task_queue=f"none{suffix}")
        found: set[str] = set()
        for _ in range(50):
            found = set(await describe_runs(client, [*odd, f"it's{suffix}"]))
            if found == set(odd):
                break
            await asyncio.sleep(0.2)
        for run_id in odd:
            await client.get_workflow_handle(run_id).terminate()
        return found

    assert harness.loop.run(scenario()) == set(odd)
