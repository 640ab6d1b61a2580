"""The run page survives a dropped stream: the first SSE connection of a live run page
ends after its first events (as a proxy or a restarted API would end it), the page
reconnects with Last-Event-ID, and when the run ends it has drawn exactly the trace's
executions and events — none twice, none missing. Real stack and Chromium, as
tests/api/test_console.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import Harness, unique
from tests.api.test_console import (  # noqa: F401 (fixtures)
    EXAMPLES,
    chromium,
    console,
    health_service,
    needs_chromium,
    node,
    shot,
    wait_status,
)

_EVENT_ID = re.compile(r"^id: ?(\S+)$", re.MULTILINE)


def first_blocks(url: str, headers: dict[str, str], wanted: int) -> str:
    """The first `wanted` event blocks of the real stream, as the bytes it sent; the
    connection is then closed, as a dropped one is."""
    ask = {key: value for key, value in headers.items() if key in {"authorization", "accept"}}
    text = ""
    with httpx.stream("GET", url, headers=ask, timeout=30) as answer:
        assert answer.status_code == 200, answer.read()
        for line in answer.iter_lines():
            text += line + "\n"
            if line == "" and text.count("\ndata:") + text.startswith("data:") >= wanted:
                break
    return text


@needs_chromium
def test_a_dropped_stream_resumes_from_the_last_event_id(
    harness: Harness,
    console: tuple[Any, list[str]],  # noqa: F811
    health_service: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    page, problems = console
    name = unique("monitoring")
    harness.register(name, (EXAMPLES / "monitoring.yaml").read_text())
    asked: list[tuple[str, dict[str, str]]] = []
    served: list[str] = []  # the event ids the cut connection carried

    def cut_the_first_connection(route: Any) -> None:
        request = route.request
        asked.append((request.url, dict(request.headers)))
        if len(asked) > 1:
            route.continue_()
            return
        body = first_blocks(request.url, request.headers, 1)
        served.extend(_EVENT_ID.findall(body))
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    run_id = harness.start(name, {"url": health_service, "interval": 2, "max_checks": 5})
    page.route(re.compile(rf"/runs/{run_id}/stream"), cut_the_first_connection)
    page.goto(f"{harness.url}/#/runs/{run_id}")
    wait_status(page, "report", "succeeded", timeout=60_000)
    page.wait_for_selector(".badge.run-completed", timeout=20_000)

    # The page came back once, from the last event the cut connection carried, and
    # stopped after the run's terminal event.
    assert served, "the first connection carried no event"
    assert len(asked) == 2, [url for url, _ in asked]
    resumed_url, resumed = asked[1]
    assert resumed.get("last-event-id") == served[-1]
    assert "cursor=" not in resumed_url  # Last-Event-ID, not the page's first cursor

    # What the page drew is the trace: every execution once, every event once.
    trace = harness.trace(run_id)
    starts = [event["nodeId"] for event in trace if event["type"] == "STARTED"]
    assert starts.count("check") == 3
    page.wait_for_function(
        "wanted => document.querySelector('#scrub')?.getAttribute('max') === wanted",
        arg=str(len(trace)),
        timeout=20_000,
    )
    for task in dict.fromkeys(starts):
        label = node(page, task).get_attribute("aria-label") or ""
        count = starts.count(task)
        said = "1 execution" if count == 1 else f"{count} executions"
        assert said in label, (task, label)
    node(page, "check").focus()
    page.keyboard.press("Enter")
    assert page.locator("#inspector .executions li").count() == 3
    # The last check's inspector: what its taken transition published, values and all,
    # and the input its attempt was rendered with (behaviour 4).
    details = page.locator("#inspector dl.details").inner_text()
    assert "checks = 3\nhealthy = true" in details
    assert f'"url": "{health_service}"' in details and "attempt 1:" in details
    shot(page, tmp_path, "stream-resumed")
    assert not problems, problems
