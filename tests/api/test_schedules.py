"""Schedules on the real Temporal dev server: a workflow's `schedules` become Temporal
Schedules when it is registered; each overlap policy does what it says with runs that
outlast the interval; trigger, backfill, pause and removal; every refusal precise."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from psycopg.types.json import Jsonb
from temporalio.service import RPCError

from api.app import create_app
from api.config import ApiConfig
from engine.temporal.worker import connect
from tests.api.conftest import TERMINAL, TOKEN, Harness, ServedApp, api_catalog, unique

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]

ZONE = zoneinfo.ZoneInfo("Europe/Paris")
REFUSALS_WORKFLOW = unique("sched_refusals")

# A run takes ~2.2 s; the schedule asks for one every second.
SLOW = """\
version: 1
input:
  seconds: {type: number}
  label: {type: string, default: none}
schedules:
  tick:
    every: 1
    overlap: OVERLAP
    catchup_window: 10
    input: {seconds: 2.2, label: scheduled}
tasks:
  work:
    action: test.slow
    input: {seconds: <% $ctx.seconds %>}
output:
  label: <% $ctx.label %>
"""

QUICK = """\
version: 1
input:
  label: {type: string}
schedules:
  SCHEDULES
tasks:
  say:
    action: core.echo
    input: <% $ctx.label %>
output:
  said: <% $ctx.label %>
"""


def quick(schedules: str) -> str:
    return QUICK.replace("SCHEDULES", schedules)


def runs_of(harness: Harness, schedule_id: str) -> list[dict[str, Any]]:
    answer = harness.client.get("/runs", params={"schedule": schedule_id, "limit": 200})
    assert answer.status_code == 200, answer.text
    runs: list[dict[str, Any]] = answer.json()["runs"]
    return runs


def wait_until(
    what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.25
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(every)


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def most_at_once(runs: list[dict[str, Any]]) -> int:
    """The most runs that were running at one moment (from their start and end)."""
    edges = []
    for run in runs:
        edges.append((stamp(run["startedAt"]), 1))
        end = run.get("completedAt")
        edges.append((stamp(end) if end else datetime.max.replace(tzinfo=UTC), -1))
    edges.sort(key=lambda edge: (edge[0], edge[1]))
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


def schedule(harness: Harness, name: str, schedule_name: str = "tick") -> dict[str, Any]:
    answer = harness.client.get(f"/workflows/{name}/schedules/{schedule_name}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def pause(harness: Harness, name: str, schedule_name: str = "tick") -> None:
    answer = harness.client.post(f"/workflows/{name}/schedules/{schedule_name}/pause")
    assert answer.status_code == 200, answer.text


# policy -> (what the runs it started must show, after ~6 s of a 1 s schedule)
OVERLAP_CASES: dict[str, Callable[[list[dict[str, Any]], dict[str, Any]], None]] = {
    # One at a time; the starts due while one runs are dropped and counted.
    "skip": lambda runs, seen: (
        (most_at_once(runs) == 1 and seen.get("skippedOverlap", 0) > 0)
        or pytest.fail(f"skip: {runs} {seen}")
    ),
    # One at a time; one start waits for the running run, the rest are dropped.
    "buffer_one": lambda runs, seen: (
        (most_at_once(runs) == 1 and seen.get("skippedOverlap", 0) > 0)
        or pytest.fail(f"buffer_one: {runs} {seen}")
    ),
    # One at a time, and none is dropped: they queue.
    "buffer_all": lambda runs, seen: (
        (most_at_once(runs) == 1 and seen.get("skippedOverlap", 0) == 0)
        or pytest.fail(f"buffer_all: {runs} {seen}")
    ),
    # A new start cancels the running run: Segue records it CANCELLED.
    "cancel_other": lambda runs, seen: (
        any(run["status"] == "CANCELLED" for run in runs) or pytest.fail(f"cancel_other: {runs}")
    ),
    # A new start terminates the running run.
    "terminate_other": lambda runs, seen: (
        any(run["status"] == "TERMINATED" for run in runs)
        or pytest.fail(f"terminate_other: {runs}")
    ),
    # Starts never wait: runs overlap.
    "allow_all": lambda runs, seen: most_at_once(runs) >= 2 or pytest.fail(f"allow_all: {runs}"),
}


@pytest.mark.parametrize("overlap", list(OVERLAP_CASES))
def test_a_schedule_fires_with_each_overlap_policy(harness: Harness, overlap: str) -> None:
    name = unique(f"sched_{overlap}")
    registered = harness.register(name, SLOW.replace("OVERLAP", overlap))
    assert registered["schedules"] == [{"name": "tick", "outcome": "created"}]
    sid = f"segue.{name}.tick"
    try:
        # Runs of 2.2 s on a 1 s schedule: within ~6 s the policy has had to decide.
        wait_until(f"{overlap}: 3 runs", lambda: len(runs_of(harness, sid)) >= 3, timeout=25)
        time.sleep(2.5)
    finally:
        pause(harness, name)

    # Settle: every started run ends (terminated ones are settled by a status read).
    def settled() -> list[dict[str, Any]] | None:
        runs = [harness.client.get(f"/runs/{run['runId']}").json() for run in runs_of(harness, sid)]
        return runs if all(run["status"] in TERMINAL for run in runs) else None

    runs = wait_until(f"{overlap}: runs end", settled, timeout=30)
    seen = schedule(harness, name)
    assert all(run["scheduleId"] == sid for run in runs)
    assert all(run["runId"].startswith(f"{name}.tick-") for run in runs)
    OVERLAP_CASES[overlap](runs, seen)
    if overlap in ("skip", "buffer_one", "buffer_all"):
        assert all(run["status"] == "COMPLETED" for run in runs), runs
        assert runs[0]["output"] == {"label": "scheduled"}


SECRET_INPUT = """\
version: 1
input:
  token: {type: string, secret: true}
  label: {type: string}
schedules:
  daily: {cron: '0 3 * * *', paused: true, input: {token: tok-1234-never-shown, label: x}}
tasks:
  say:
    action: core.noop
"""


def test_a_schedules_secret_input_is_shown_masked(harness: Harness) -> None:
    """A schedule's input is shown as a run's is: declared secrets `***`, in the list and
    in the schedule's own answer (the schedule itself keeps and uses the value)."""
    name = unique("sched_secret")
    harness.register(name, SECRET_INPUT)
    listed = harness.client.get(f"/workflows/{name}/schedules")
    shown = harness.client.get(f"/workflows/{name}/schedules/daily")
    for answer in (listed, shown):
        assert answer.status_code == 200, answer.text
        assert "tok-1234-never-shown" not in answer.text
    assert shown.json()["declared"]["input"] == {"token": "***", "label": "x"}


def test_trigger_backfill_pause_and_removal(harness: Harness) -> None:
    name = unique("sched_ops")
    body = quick(
        "daily: {cron: '0 3 * * *', timezone: Europe/Paris, paused: true, "
        "overlap: allow_all, input: {label: nightly}}"
    )
    assert harness.register(name, body)["schedules"] == [{"name": "daily", "outcome": "created"}]
    sid = f"segue.{name}.daily"
    seen = schedule(harness, name, "daily")
    assert seen["paused"] is True and seen["origin"] == "workflow"
    assert seen["declared"]["timezone"] == "Europe/Paris"
    # Next runs are at 03:00 in Paris (02:00 or 01:00 UTC).
    assert seen["nextRuns"] and all(
        stamp(moment).astimezone(ZONE).hour == 3 for moment in seen["nextRuns"]
    )

    # Trigger now works on a paused schedule (the pause stops the clock, not the user).
    answer = harness.client.post(f"/workflows/{name}/schedules/daily/trigger")
    assert answer.status_code == 202, answer.text
    first = wait_until("a triggered run", lambda: runs_of(harness, sid))[0]
    assert harness.wait_for(first["runId"])["output"] == {"said": "nightly"}

    # Backfill two past days: the two 03:00 starts of that window.
    now = datetime.now(UTC)
    window = {"start": (now - timedelta(days=2, hours=1)).isoformat(), "end": now.isoformat()}
    answer = harness.client.post(f"/workflows/{name}/schedules/daily/backfill", json=window)
    assert answer.status_code == 202, answer.text
    wait_until("2 backfilled runs", lambda: len(runs_of(harness, sid)) >= 3)

    # Unpause, then pause with a note: Temporal shows both.
    answer = harness.client.post(f"/workflows/{name}/schedules/daily/unpause")
    assert answer.status_code == 200 and answer.json()["paused"] is False, answer.text
    answer = harness.client.post(
        f"/workflows/{name}/schedules/daily/pause", json={"note": "maintenance"}
    )
    assert answer.json()["paused"] is True and answer.json()["note"] == "maintenance"

    # Registering again, unchanged, keeps the pause made through the API.
    harness.register(name, body + "\n")
    assert schedule(harness, name, "daily")["paused"] is True

    # A version without the schedule removes it from Temporal too.
    gone = harness.register(name, quick("{}").replace("schedules:\n  {}\n", ""))
    assert gone["schedules"] == [{"name": "daily", "outcome": "removed"}]
    assert harness.client.get(f"/workflows/{name}/schedules/daily").status_code == 404
    assert harness.client.get(f"/workflows/{name}/schedules").json() == {"schedules": []}


def test_schedules_declared_through_the_api(harness: Harness) -> None:
    name = unique("sched_api")
    harness.register(name, quick("{}"))
    spec = {"every": 3600, "input": {"label": "from api"}, "overlap": "skip", "paused": True}
    answer = harness.client.put(f"/workflows/{name}/schedules/hourly", json=spec)
    assert answer.status_code == 200, answer.text
    assert answer.json()["origin"] == "api" and answer.json()["inTemporal"] is True
    # It survives a new version of the file, and follows it (the new version's input schema).
    v2 = quick("{}") + "description: v2\n"
    assert harness.register(name, v2)["schedules"] == [{"name": "hourly", "outcome": "updated"}]
    # Registered again as it is: Temporal is not asked again.
    assert harness.register(name, v2)["schedules"] == [{"name": "hourly", "outcome": "unchanged"}]
    assert "problem" not in schedule(harness, name, "hourly")
    answer = harness.client.post(f"/workflows/{name}/schedules/hourly/trigger")
    assert answer.status_code == 202
    run = wait_until("a run", lambda: runs_of(harness, f"segue.{name}.hourly"))[0]
    assert harness.wait_for(run["runId"])["output"] == {"said": "from api"}
    assert harness.client.delete(f"/workflows/{name}/schedules/hourly").status_code == 204
    assert harness.client.get(f"/workflows/{name}/schedules/hourly").status_code == 404


BAD_REQUESTS = [
    # (what, method, path suffix, body, status, code, fragment)
    (
        "no times",
        "put",
        "s1",
        {"input": {"label": "x"}},
        422,
        "SCHEDULE_INVALID",
        "`cron` or `every`",
    ),
    ("bad cron", "put", "s1", {"cron": "* * * *"}, 422, "SCHEDULE_INVALID", "4 field(s)"),
    (
        "bad zone",
        "put",
        "s1",
        {"every": 60, "timezone": "Nowhere/Land"},
        422,
        "SCHEDULE_INVALID",
        "unknown time zone",
    ),
    (
        "naive start",
        "put",
        "s1",
        {"every": 60, "start": "2030-01-01T00:00:00"},
        422,
        "SCHEDULE_INVALID",
        "with a zone",
    ),
    ("unknown key", "put", "s1", {"every": 60, "evry": 1}, 422, "SCHEDULE_INVALID", "evry"),
    ("tiny interval", "put", "s1", {"every": 0.001}, 422, "SCHEDULE_INVALID", "minimum"),
    (
        "bad overlap",
        "put",
        "s1",
        {"every": 60, "overlap": "queue"},
        422,
        "SCHEDULE_INVALID",
        "queue",
    ),
    (
        "bad input",
        "put",
        "s1",
        {"every": 60, "input": {"label": 5}},
        422,
        "INPUT_INVALID",
        "/label",
    ),
    (
        "bad name",
        "put",
        "no.dots",
        {"every": 60, "input": {"label": "x"}},
        400,
        "NAME_INVALID",
        "schedule name",
    ),
    (
        "file schedule",
        "put",
        "nightly",
        {"every": 60, "input": {"label": "x"}},
        409,
        "SCHEDULE_DECLARED_IN_FILE",
        "file",
    ),
    ("unknown", "post", "nope/trigger", None, 404, "SCHEDULE_NOT_FOUND", "'nope'"),
    (
        "backfill order",
        "post",
        "nightly/backfill",
        {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        400,
        "INVALID_REQUEST",
        "before `end`",
    ),
    (
        "backfill span",
        "post",
        "nightly/backfill",
        {"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        400,
        "INVALID_REQUEST",
        "366 days",
    ),
    (
        "backfill naive",
        "post",
        "nightly/backfill",
        {"start": "2026-01-01", "end": "2026-01-02T00:00:00Z"},
        400,
        "INVALID_REQUEST",
        "with a zone",
    ),
    (
        "backfill too many starts",
        "post",
        "every_second/backfill",
        {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"},
        400,
        "BACKFILL_TOO_LARGE",
        "more than 1000 starts",
    ),
]


@pytest.mark.parametrize(("what", "method", "suffix", "body", "status", "code", "fragment"),
                         BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])  # fmt: skip
def test_refusals(
    harness: Harness,
    what: str,
    method: str,
    suffix: str,
    body: Any,
    status: int,
    code: str,
    fragment: str,
) -> None:
    name = REFUSALS_WORKFLOW
    if harness.client.get(f"/workflows/{name}").status_code != 200:
        harness.register(
            name,
            quick(
                "nightly: {cron: '@daily', paused: true, input: {label: n}}\n"
                "  every_second: {every: 1, paused: true, input: {label: s}}"
            ),
        )
    answer = harness.client.request(
        method.upper(), f"/workflows/{name}/schedules/{suffix}", json=body
    )
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert problem["code"] == code
    assert fragment in answer.text


def test_a_file_schedule_whose_input_breaks_the_schema_is_refused(harness: Harness) -> None:
    body = quick("bad: {every: 60, input: {label: 7}}")
    answer = harness.client.post("/workflows", params={"name": unique("sched_bad")}, content=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "WORKFLOW_INVALID"
    assert "schedules.bad.input/label" in answer.text


def test_an_api_starting_finishes_schedule_changes_left_undone(harness: Harness) -> None:
    """A crash between the catalog write and Temporal (simulated by writing the catalog
    directly) is finished by the next API process to start: the marked schedule leaves
    Temporal, the unapplied one arrives, and one deleted in Temporal comes back."""
    name = unique("sched_restart")
    harness.register(
        name,
        quick(
            "gone: {every: 3600, paused: true, input: {label: a}}\n"
            "  kept: {every: 3600, paused: true, input: {label: k}}"
        ),
    )

    async def leave_undone() -> None:
        # `kept` is deleted in Temporal behind Segue's back (the UI, a script).
        client = await connect(harness.temporal_address)
        await client.get_schedule_handle(f"segue.{name}.kept").delete()
        async with harness.worker_pool.connection() as conn:
            await conn.execute(
                "UPDATE schedules SET removing = true WHERE workflow_name = %s AND name = 'gone'",
                (name,),
            )
            await conn.execute(
                "INSERT INTO schedules (workflow_name, name, origin, declared, paused) "
                "VALUES (%s, 'late', 'api', %s, true)",
                (name, Jsonb({"every": 7200, "input": {"label": "b"}, "paused": True})),
            )

    harness.loop.run(leave_undone())
    config = ApiConfig(
        database_url=harness.database_url,
        temporal_address=harness.temporal_address,
        task_queue=harness.task_queue,
        tokens=(TOKEN,),
    )
    second = ServedApp(create_app(config, catalog=api_catalog()))
    second.start()
    try:
        with httpx.Client(
            base_url=second.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as client:

            def settled() -> bool:
                listed = client.get(f"/workflows/{name}/schedules").json()["schedules"]
                found = [(s["name"], s["inTemporal"]) for s in listed]
                return found == [("kept", True), ("late", True)]

            wait_until("the start-up reconcile", settled, timeout=30)

        async def gone_from_temporal() -> bool:
            client = await connect(harness.temporal_address)
            try:
                await client.get_schedule_handle(f"segue.{name}.gone").describe()
            except RPCError:
                return True
            return False

        assert harness.loop.run(gone_from_temporal())
    finally:
        second.stop()


def test_every_declared_field_reaches_temporal(harness: Harness) -> None:
    name = unique("sched_fields")
    harness.register(
        name,
        quick(
            "full: {cron: ['0 7 * * MON-FRI', '@hourly'], every: 900, offset: 60, "
            "timezone: America/New_York, jitter: 30, start: '2030-01-01T00:00:00Z', "
            "end: '2031-01-01T00:00:00+02:00', overlap: buffer_all, catchup_window: 600, "
            "paused: true, note: not yet, input: {label: f}}"
        ),
    )

    async def described() -> Any:
        client = await connect(harness.temporal_address)
        return await client.get_schedule_handle(f"segue.{name}.full").describe()

    found = harness.loop.run(described())
    spec, policy, state = found.schedule.spec, found.schedule.policy, found.schedule.state
    assert spec.time_zone_name == "America/New_York"
    assert spec.jitter == timedelta(seconds=30)
    assert spec.start_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert spec.end_at == datetime(2030, 12, 31, 22, tzinfo=UTC)
    assert [(i.every, i.offset) for i in spec.intervals] == [
        (timedelta(seconds=900), timedelta(seconds=60))
    ]
    assert len(spec.calendars) + len(spec.cron_expressions) >= 2  # Temporal's own form
    assert policy.overlap.name == "BUFFER_ALL"
    assert policy.catchup_window == timedelta(seconds=600)
    assert state.paused and state.note == "not yet"
    # Nothing before `start`: the next runs are in 2030, at 07:00 New York on weekdays,
    # on the hour, or on the 15-minute grid shifted by one minute.
    view = schedule(harness, name, "full")
    assert all(moment.startswith("2030-01-01") for moment in view["nextRuns"])


def test_a_schedule_whose_input_no_longer_fits_stays_paused(harness: Harness) -> None:
    name = unique("sched_drift")
    harness.register(name, quick("{}"))
    spec = {"every": 3600, "input": {"label": "text"}}
    assert harness.client.put(f"/workflows/{name}/schedules/h", json=spec).status_code == 200
    # Version 2 wants a number: the schedule could only start runs that fail.
    v2 = quick("{}").replace("label: {type: string}", "label: {type: integer}")
    (outcome,) = harness.register(name, v2)["schedules"]
    assert outcome["outcome"] == "updated" and "/label" in outcome["problem"]
    seen = schedule(harness, name, "h")
    assert seen["paused"] is True and "/label" in seen["problem"]
    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
    for action, body in (("unpause", {}), ("trigger", {}), ("backfill", window)):
        answer = harness.client.post(f"/workflows/{name}/schedules/h/{action}", json=body)
        assert answer.status_code == 409, (action, answer.text)
        assert answer.json()["code"] == "SCHEDULE_HAS_PROBLEM"
    assert runs_of(harness, f"segue.{name}.h") == []
