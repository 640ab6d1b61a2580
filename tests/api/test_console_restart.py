"""The run page outlives its API: the API process is stopped mid-run (as a supervisor
stops it: SIGTERM, SIGKILL after a grace) and started again on the same port; the page,
which kept the run drawn meanwhile, follows the stream again with Last-Event-ID and ends
with exactly the trace's executions and events. Real stack (the API as a `segue api`
process, the worker, Temporal, PostgreSQL) and Chromium, as tests/api/test_console.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from engine.temporal.devserver import free_port
from tests.api.conftest import Harness, unique
from tests.api.test_console import (  # noqa: F401 (fixtures)
    chromium,
    needs_chromium,
    node,
    shot,
    wait_status,
)
from tests.support.processes import start_api, stop_api, stop_process, wait_for_api

LAPS = 10
# A loop of one-second timers: long enough to outlast the restart (about 3 s).
LAPPING = f"""\
version: 1
vars: {{laps: 0}}
start: [lap]
tasks:
  lap:
    action: core.sleep
    input: {{seconds: 1}}
    next:
      - when: $ctx.laps + 1 < {LAPS}
        publish: {{laps: <% $ctx.laps + 1 %>}}
        do: lap
      - when: $ctx.laps + 1 >= {LAPS}
        publish: {{laps: <% $ctx.laps + 1 %>}}
        do: done
  done:
    action: core.echo
    input: {{laps: <% $ctx.laps %>}}
output:
  laps: <% $ctx.laps %>
"""
GRACE_SECONDS = 1.5
# What the browser reports of the stream the stop cut, and while nothing listens on
# the port (the page retries); any other console error fails the test.
WHILE_DOWN = (
    "ERR_INCOMPLETE_CHUNKED_ENCODING",
    "ERR_CONNECTION_REFUSED",
    "ERR_EMPTY_RESPONSE",
    "Failed to fetch",
    "network error",
)


@needs_chromium
def test_the_page_resumes_after_the_api_restarts(
    harness: Harness,
    chromium: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    name = unique("lapping")
    harness.register(name, LAPPING)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "api.log"

    def api_process() -> Any:
        # The harness's worker runs the run; this API only serves the page and the trace.
        return start_api(port, harness.database_url, harness.temporal_address,
                         harness.task_queue, log)  # fmt: skip

    api = api_process()
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    streams: list[tuple[float, dict[str, str]]] = []
    page.on(
        "request",
        lambda r: streams.append((time.monotonic(), r.headers)) if "/stream" in r.url else None,
    )
    try:
        wait_for_api(url, api)
        answer = httpx.post(f"{url}/workflows/{name}/runs", json={"input": {}}, timeout=15)
        assert answer.status_code == 201, answer.text
        run_id = answer.json()["runId"]
        page.goto(f"{url}/#/runs/{run_id}")
        page.wait_for_selector('g.node[data-task="lap"] text.counter', timeout=20_000)  # a 2nd lap

        stop_api(api, GRACE_SECONDS)
        stopped = time.monotonic()
        assert harness.client.get(f"/runs/{run_id}").json()["status"] == "RUNNING"
        # The page keeps what it drew while its API is away.
        assert node(page, "lap").locator("text.counter").count() == 1
        api = api_process()
        wait_for_api(url, api)

        wait_status(page, "done", "succeeded", timeout=60_000)
        page.wait_for_selector(".badge.run-completed", timeout=20_000)
        trace = harness.trace(run_id)
        assert trace[-1]["type"] == "WORKFLOW_COMPLETED"
        # Followed again after the restart from the last event it had, not from the start.
        after = [headers for at, headers in streams if at > stopped]
        assert after, "the page did not ask for the stream again"
        resumed = after[-1].get("last-event-id")
        assert resumed is not None and 1 < int(resumed) < len(trace), after
        # What the page drew is the trace: every execution once, every event once.
        page.wait_for_function(
            "wanted => document.querySelector('#scrub')?.getAttribute('max') === wanted",
            arg=str(len(trace)),
            timeout=20_000,
        )
        starts = [event["nodeId"] for event in trace if event["type"] == "STARTED"]
        assert starts.count("lap") == LAPS
        label = node(page, "lap").get_attribute("aria-label") or ""
        assert f"{LAPS} executions" in label, label
        assert node(page, "lap").locator("text.counter").text_content() == f"\u00d7{LAPS}"
        node(page, "lap").click()
        assert page.locator("#inspector .executions li").count() == LAPS
        shot(page, tmp_path, "api-restarted")
        unexpected = [p for p in problems if not any(sign in p for sign in WHILE_DOWN)]
        assert not unexpected, unexpected
    finally:
        context.close()
        stop_process(api)
