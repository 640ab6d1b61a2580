"""Task logs, progress and artifacts through the real API, worker, Temporal and
PostgreSQL: lines are seen while the process runs, progress reaches the run status, an
artifact round-trips, and an attempt's log stays within its bounds."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.temporal.task_logs import MAX_LINES
from tests.api.conftest import TOKEN, Harness, unique

ROOT = Path(__file__).resolve().parents[2]

# Three lines a second apart, the last on stderr.
PAUSED_LINES = """\
version: 1
tasks:
  talk:
    action: shell.run
    input:
      argv:
        - python3
        - -u
        - -c
        - |
          import sys, time
          print('one')
          time.sleep(1)
          print('two')
          time.sleep(1)
          print('three', file=sys.stderr)
"""

MILLION_LINES = """\
version: 1
tasks:
  flood:
    action: shell.run
    input:
      argv:
        - python3
        - -c
        - |
          import sys
          sys.stdout.write(''.join(f'line {i}\\n' for i in range(1000000)))
      timeout: 120
"""

REPORTS = """\
version: 1
input:
  hold: {type: number}
tasks:
  report:
    action: test.report
    input:
      hold: <% $ctx.hold %>
"""

# Three items, each printing its name; the item "b" fails its first attempt.
ITEMS_AND_RETRIES = """\
version: 1
tasks:
  each:
    action: shell.run
    with: <% ["a", "b", "c"] %>
    input:
      argv:
        - python3
        - -c
        - |
          import os, sys
          name, marker = sys.argv[1], sys.argv[2]
          print("item " + name)
          if name == "b" and not os.path.exists(marker):
              open(marker, "w").close()
              sys.exit(3)
        - <% $item %>
        - <% $ctx.marker %>
      check: true
    retry: {count: 1, delay: 0}
"""


def _follow(harness: Harness, path: str, seen: list[tuple[float, dict[str, Any]]]) -> None:
    """Read an SSE log stream to its end, keeping (arrival wall time, line) for each line
    (wall time, to compare with the times the store gave the lines)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        httpx.Client(base_url=harness.url, headers=headers) as client,
        client.stream("GET", path, timeout=60) as stream,
    ):
        assert stream.status_code == 200
        for text in stream.iter_lines():
            if text.startswith("data:"):
                for line in json.loads(text[5:])["logs"]:
                    seen.append((time.time(), line))


def test_shell_lines_arrive_over_sse_while_the_process_runs(harness: Harness) -> None:
    name = unique("paused_lines")
    harness.register(name, PAUSED_LINES)
    run_id = harness.start(name)
    seen: list[tuple[float, dict[str, Any]]] = []
    reader = threading.Thread(target=_follow, args=(harness, f"/runs/{run_id}/logs/stream", seen))
    reader.start()
    harness.wait_for(run_id, lambda s: s["status"] == "COMPLETED")
    reader.join(30)
    assert not reader.is_alive(), "the stream did not end after the run"
    shown = [(line["message"], line["data"]["stream"]) for _, line in seen]
    assert shown == [("one", "stdout"), ("two", "stdout"), ("three", "stderr")]
    # Each line was stored as it was printed, a second apart, not all at the end; and the
    # first reached the reader before the last was even printed. (Arrival gaps alone
    # prove nothing on a loaded machine: a reader held up for a second reads two at once.)
    stored = [datetime.fromisoformat(line["timestamp"]).timestamp() for _, line in seen]
    assert stored[1] - stored[0] > 0.6
    assert stored[2] - stored[1] > 0.6
    assert seen[0][0] < stored[2]
    first = seen[0][1]
    assert (first["task"], first["attempt"], first["seq"]) == ("talk", 1, 1)

    # Resuming with Last-Event-ID sends only what came after.
    resumed = harness.client.get(
        f"/runs/{run_id}/logs/stream", headers={"Last-Event-ID": first["id"]}
    )
    messages = [json.loads(t[5:]) for t in resumed.text.splitlines() if t.startswith("data:")]
    assert [m["logs"][0]["message"] for m in messages] == ["two", "three"]

    page = harness.client.get(f"/runs/{run_id}/logs", params={"task": "talk", "limit": 2}).json()
    assert [line["message"] for line in page["logs"]] == ["one", "two"]
    rest = harness.client.get(f"/runs/{run_id}/logs", params={"cursor": page["cursor"]}).json()
    assert [line["message"] for line in rest["logs"]] == ["three"]
    assert harness.client.get(f"/runs/{run_id}/logs", params={"task": "other"}).json()["logs"] == []


def test_progress_reaches_the_run_status_and_leaves_with_the_attempt(harness: Harness) -> None:
    name = unique("progress")
    harness.register(name, REPORTS)
    run_id = harness.start(name, {"hold": 3})
    status = harness.wait_for(run_id, lambda s: bool(s["progress"].get("tasks")))
    (shown,) = status["progress"]["tasks"]
    assert {k: shown[k] for k in ("task", "attempt", "done", "total", "message")} == {
        "task": "report",
        "attempt": 1,
        "done": 89,
        "total": 127,
        "message": "scanned 89/127",
    }
    # The run's trace has it too, as a PROGRESS event (behaviour 3, progress_events.py).
    event = harness.wait_for_event(
        run_id, lambda e: e["type"] == "PROGRESS" and "progress" in (e.get("data") or {})
    )
    assert (event["nodeId"], event["message"]) == ("report", "scanned 89/127")
    assert event["data"]["progress"] == {"done": 89, "total": 127}
    assert (event["data"]["attempt"], event["data"]["iteration"]) == (1, 1)
    final = harness.wait_for(run_id)
    assert final["status"] == "COMPLETED"
    assert "tasks" not in final["progress"]
    progress_events = [e for e in harness.trace(run_id) if "progress" in e.get("data", {})]
    assert len(progress_events) == 1  # one ctx.progress call: one event
    lines = harness.client.get(f"/runs/{run_id}/logs").json()["logs"]
    progress_lines = [line for line in lines if "progress" in (line.get("data") or {})]
    assert progress_lines[0]["data"]["progress"] == {"done": 89, "total": 127}


def test_an_artifact_round_trips(harness: Harness) -> None:
    name = unique("artifacts")
    harness.register(name, REPORTS)
    run_id = harness.start(name, {"hold": 0})
    assert harness.wait_for(run_id)["status"] == "COMPLETED"
    listing = harness.client.get(f"/runs/{run_id}/artifacts", params={"task": "report"}).json()
    by_name = {artifact["name"]: artifact for artifact in listing["artifacts"]}
    assert set(by_name) == {"report.json", "bytes.bin"}
    blob = by_name["bytes.bin"]
    assert (blob["mediaType"], blob["sizeBytes"]) == ("application/octet-stream", 1024)
    download = harness.client.get(f"/runs/{run_id}/artifacts/{blob['id']}")
    assert download.status_code == 200
    assert download.content == bytes(range(256)) * 4
    assert hashlib.sha256(download.content).hexdigest() == blob["sha256"]
    assert download.headers["content-disposition"] == 'attachment; filename="bytes.bin"'
    assert download.headers["content-security-policy"] == "sandbox"
    report = harness.client.get(f"/runs/{run_id}/artifacts/{by_name['report.json']['id']}")
    assert report.headers["content-type"].startswith("application/json")
    assert report.json() == {"scanned": 127}
    # Each artifact is announced in the task's log, with its id.
    lines = harness.client.get(f"/runs/{run_id}/logs").json()["logs"]
    announced = [line["data"]["artifact"]["id"] for line in lines if "artifact" in line["data"]]
    assert sorted(announced) == sorted(a["id"] for a in listing["artifacts"])
    # ... and in the run's trace (behaviour 3, progress_events.py).
    traced = [
        e["data"]["artifact"] for e in harness.trace(run_id) if "artifact" in e.get("data", {})
    ]
    assert sorted(traced, key=lambda a: a["name"]) == [
        {
            "id": blob["id"],
            "name": "bytes.bin",
            "mediaType": "application/octet-stream",
            "sizeBytes": 1024,
        },
        {
            "id": by_name["report.json"]["id"],
            "name": "report.json",
            "mediaType": "application/json",
            "sizeBytes": 16,
        },
    ]
    assert harness.client.get(f"/runs/{run_id}/artifacts", params={"task": "x"}).json() == {
        "runId": run_id,
        "artifacts": [],
    }


def test_a_million_lines_stay_within_the_attempts_bounds(harness: Harness) -> None:
    name = unique("flood")
    harness.register(name, MILLION_LINES)
    run_id = harness.start(name)
    final = harness.wait_for(run_id, timeout=120)
    assert final["status"] == "COMPLETED"
    lines: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = harness.client.get(f"/runs/{run_id}/logs", params=params).json()
        lines.extend(page["logs"])
        cursor = page["cursor"]
        if not page["logs"]:
            break
    kept = [line for line in lines if line["level"] == "info"]
    markers = [line for line in lines if line["level"] == "warn"]
    assert len(kept) == MAX_LINES
    assert kept[0]["message"] == "line 0"
    assert kept[-1]["message"] == f"line {MAX_LINES - 1}"
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert len(markers) == 2
    assert markers[0]["message"].startswith("log limit reached")
    assert markers[-1]["data"]["truncated"]["lines"] == 1_000_000 - MAX_LINES


@pytest.mark.parametrize(
    ("path", "params", "headers", "status", "code"),
    [
        ("/runs/nope/logs", {}, {}, 404, "RUN_NOT_FOUND"),
        ("/runs/nope/artifacts", {}, {}, 404, "RUN_NOT_FOUND"),
        ("/runs/{run}/logs", {"cursor": "bm90LWEtY3Vyc29y"}, {}, 400, "INVALID_CURSOR"),
        ("/runs/{run}/logs", {"cursor": "dDox"}, {}, 400, "INVALID_CURSOR"),  # a trace cursor
        ("/runs/{run}/logs", {"execution": "-1"}, {}, 400, None),
        ("/runs/{run}/logs", {"limit": "1001"}, {}, 400, None),
        ("/runs/{run}/logs", {"task": "x" * 201}, {}, 400, None),
        ("/runs/{run}/logs/stream", {}, {"Last-Event-ID": "12"}, 400, "INVALID_CURSOR"),
        ("/runs/{run}/artifacts/999999999", {}, {}, 404, "ARTIFACT_NOT_FOUND"),
        ("/runs/{run}/artifacts/0", {}, {}, 404, "ARTIFACT_NOT_FOUND"),
        ("/runs/{run}/artifacts/99999999999999999999999", {}, {}, 404, "ARTIFACT_NOT_FOUND"),
    ],
)
def test_hostile_requests_get_precise_problems(
    harness: Harness,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    status: int,
    code: str | None,
) -> None:
    name = unique("hostile_logs")
    harness.register(name, REPORTS)
    run_id = harness.start(name, {"hold": 0})
    answer = harness.client.get(path.format(run=run_id), params=params, headers=headers)
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["code"] == code


def test_segue_logs_prints_a_tasks_lines(harness: Harness) -> None:
    name = unique("cli_logs")
    harness.register(name, PAUSED_LINES)
    run_id = harness.start(name)
    env = {**os.environ, "SEGUE_API_URL": harness.url, "SEGUE_API_TOKEN": TOKEN}
    command = [sys.executable, "-m", "api.cli", "logs", run_id, "--task", "talk"]
    followed = subprocess.run(
        [*command, "--follow"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert followed.returncode == 0, followed.stderr
    assert [line.split()[-1] for line in followed.stdout.splitlines()] == ["one", "two", "three"]
    assert "talk #" in followed.stdout and "info/stderr" in followed.stdout
    printed = subprocess.run(
        [*command, "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert printed.returncode == 0, printed.stderr
    assert [json.loads(line)["message"] for line in printed.stdout.splitlines()] == [
        "one",
        "two",
        "three",
    ]
    missing = subprocess.run(
        [sys.executable, "-m", "api.cli", "logs", "no-such-run"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1
    assert "RUN_NOT_FOUND" in missing.stderr


def test_the_routes_are_in_the_openapi_document(harness: Harness) -> None:
    paths = harness.client.get("/schema/openapi.json").json()["paths"]
    assert {
        "/runs/{run_id}/logs",
        "/runs/{run_id}/logs/stream",
        "/runs/{run_id}/artifacts",
        "/runs/{run_id}/artifacts/{artifact_id}",
    } <= set(paths)
    logs = paths["/runs/{run_id}/logs"]["get"]
    assert {p["name"] for p in logs["parameters"]} >= {"task", "execution", "cursor", "limit"}


def test_lines_are_kept_per_item_and_attempt(harness: Harness, tmp_path: Path) -> None:
    name = unique("items_logs")
    harness.register(
        name, ITEMS_AND_RETRIES.replace("version: 1\n", "version: 1\ninput: {marker: {}}\n")
    )
    run_id = harness.start(name, {"marker": str(tmp_path / "failed-once")})
    assert harness.wait_for(run_id)["status"] == "COMPLETED"
    lines = harness.client.get(f"/runs/{run_id}/logs", params={"task": "each"}).json()["logs"]
    seen = sorted((line["item"], line["attempt"], line["seq"], line["message"]) for line in lines)
    assert seen == [
        (0, 1, 1, "item a"),
        (1, 1, 1, "item b"),  # the first attempt, which failed
        (1, 2, 1, "item b"),
        (2, 1, 1, "item c"),
    ]
    assert len({line["execution"] for line in lines}) == 1


REPORT_ITEMS = """\
version: 1
tasks:
  report:
    action: test.report
    with: <% [0, 1] %>
    input:
      hold: 1
"""


def test_each_items_progress_and_artifacts_reach_the_trace(harness: Harness) -> None:
    name = unique("report_items")
    harness.register(name, REPORT_ITEMS)
    run_id = harness.start(name)
    assert harness.wait_for(run_id)["status"] == "COMPLETED"
    events = [e for e in harness.trace(run_id) if e["type"] == "PROGRESS"]
    progress = sorted(e["data"]["item"] for e in events if "progress" in e["data"])
    artifacts = sorted(
        (e["data"]["item"], e["data"]["artifact"]["name"])
        for e in events
        if "artifact" in e["data"]
    )
    assert progress == [0, 1]
    assert artifacts == [
        (0, "bytes.bin"),
        (0, "report.json"),
        (1, "bytes.bin"),
        (1, "report.json"),
    ]
    listing = harness.client.get(f"/runs/{run_id}/artifacts").json()["artifacts"]
    assert sorted((a["item"], a["name"]) for a in listing) == artifacts
