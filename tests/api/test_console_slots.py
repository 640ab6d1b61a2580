"""The timeline and the node panel show how long an attempt waited in line for a slot of
its task's concurrency limit, and how long it waited in Temporal's task queue for a
worker (runs on behaviour 5 trace both). Real stack and Chromium, as
tests/api/test_console.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.api.conftest import Harness, unique
from tests.api.test_console import (  # noqa: F401 (fixtures)
    chromium,
    console,
    health_service,
    needs_chromium,
    node,
    shot,
)

# Two items, one slot: the item that asks second waits for the other's 1.5 s attempt.
ONE_AT_A_TIME = """\
version: 1
tasks:
  probe:
    with:
      items: <% ["first", "second"] %>
      concurrency: 2
    action: test.slow
    input: {seconds: 1.5}
    concurrency_limits:
      per_host: {limit: 1, key: db-1}
"""


@needs_chromium
def test_a_wait_for_a_slot_is_shown_on_the_timeline_and_in_the_panel(
    harness: Harness,
    console: tuple[Any, list[str]],  # noqa: F811
    tmp_path: Path,
) -> None:
    page, problems = console
    name = unique("slots")
    harness.register(name, ONE_AT_A_TIME)
    run_id = harness.start(name)
    assert harness.wait_for(run_id, timeout=60)["status"] == "COMPLETED"
    waits = [
        event["data"]
        for event in harness.trace(run_id)
        if event["type"] == "PROGRESS" and "limit" in (event.get("data") or {})
    ]
    item = waits[0].get("item")  # whichever item asked second
    assert [(w.get("item"), bool(w.get("admitted"))) for w in waits] == [
        (item, False),
        (item, True),
    ]

    page.goto(f"{harness.url}/#/runs/{run_id}")
    page.wait_for_selector(".badge.run-completed", timeout=20_000)
    page.wait_for_function(  # drawn once the page has the run's events
        "() => (document.querySelector('canvas.timeline')?.getAttribute('aria-label') || '')"
        ".startsWith('timeline: ')",
        timeout=10_000,
    )
    label = page.locator("canvas.timeline").get_attribute("aria-label") or ""
    assert label.endswith("; 1 waits for a slot"), label
    assert "dots: waiting for a slot" in page.locator(".timeline-legend").inner_text()

    node(page, "probe").click()
    details = page.locator("#inspector dl.details").inner_text()
    found = re.search(rf"item {item}, limit per_host \(key db-1\): ([\d.]+) s", details)
    assert found, details
    assert 1.0 <= float(found.group(1)) < 30, details  # about the first item's 1.5 s
    shot(page, tmp_path, "slot-wait")
    assert not problems, problems


ONE_TASK = """\
version: 1
tasks:
  nap:
    action: test.slow
    input: {seconds: 0.5}
"""


@needs_chromium
def test_the_wait_for_a_worker_is_said_in_the_panel(
    harness: Harness,
    console: tuple[Any, list[str]],  # noqa: F811
) -> None:
    """How long the attempt sat in Temporal's task queue, then ran (behaviour 5; a
    worker that runs one activity at a time makes the wait long:
    tests/temporal/test_worker_wait.py)."""
    page, problems = console
    name = unique("worker-wait")
    harness.register(name, ONE_TASK)
    run_id = harness.start(name)
    assert harness.wait_for(run_id, timeout=60)["status"] == "COMPLETED"
    (completed,) = [e for e in harness.trace(run_id) if e["type"] == "COMPLETED"]
    assert completed["data"]["ranMs"] >= 500 and completed["data"]["queuedMs"] >= 0

    page.goto(f"{harness.url}/#/runs/{run_id}")
    page.wait_for_selector(".badge.run-completed", timeout=20_000)
    node(page, "nap").click()
    details = page.locator("#inspector dl.details").inner_text()
    found = re.search(r"(\d+(?:\.\d)?) (ms|s) in the task queue, then ran (\d+) ms", details)
    assert found, details
    assert int(found.group(3)) == completed["data"]["ranMs"]
    assert "hollow: waiting for a worker" in page.locator(".timeline-legend").inner_text()
    assert not problems, problems


# The run holds its workflow's only slot until someone answers `hold`.
HOLDER = """\
version: 1
concurrency_limits:
  LIMIT: {key: the-one, limit: 1}
tasks:
  hold:
    action: core.approval
"""


@needs_chromium
def test_a_run_that_waited_for_its_own_slot_shows_the_wait_above_its_tasks(
    harness: Harness,
    console: tuple[Any, list[str]],  # noqa: F811
) -> None:
    """A workflow-level limit: the second run is QUEUED until the first ends; its
    timeline has the wait as a row of its own, and the replay says QUEUED there."""
    page, problems = console
    name, limit = unique("admission"), unique("solo")
    harness.register(name, HOLDER.replace("LIMIT", limit))
    first = harness.start(name)
    harness.wait_for_event(first, lambda e: e["type"] == "STARTED")
    second = harness.start(name)
    harness.wait_for_event(second, lambda e: e["type"] == "WORKFLOW_QUEUED")
    for run_id in (first, second):
        harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED", timeout=60)
        answer = harness.client.post(f"/runs/{run_id}/signals/hold", json={"payload": {}})
        assert answer.status_code == 202, answer.text
        assert harness.wait_for(run_id, timeout=60)["status"] == "COMPLETED"

    page.goto(f"{harness.url}/#/runs/{second}")
    page.wait_for_selector(".badge.run-completed", timeout=20_000)
    page.wait_for_function(
        "() => (document.querySelector('canvas.timeline')?.getAttribute('aria-label') || '')"
        ".includes('the run waited')",
        timeout=10_000,
    )
    label = page.locator("canvas.timeline").get_attribute("aria-label") or ""
    found = re.search(rf"; the run waited ([\d.]+) s for a slot of {limit}($|;)", label)
    assert found, label
    queued = next(e for e in harness.trace(second) if e["type"] == "WORKFLOW_QUEUED")
    started = next(e for e in harness.trace(second) if e["type"] == "STARTED")
    assert queued["timestamp"] <= started["timestamp"]
    # Replay: two events in (started, queued), the run is QUEUED.
    page.locator("#scrub").fill("2")
    page.wait_for_function(
        "() => document.querySelector('.run-header')?.innerText.includes('QUEUED (replay)')",
        timeout=10_000,
    )
    assert not problems, problems


# The demo endpoint answers 503 twice, then 200: two failed attempts, then a result.
RETRIED = """\
version: 1
input:
  base: {type: string}
tasks:
  reach:
    action: http.request
    input: {url: "<% $ctx.base %>/flaky-retried", expect_status: [200]}
    retry: {count: 2, delay: 0}
"""


@needs_chromium
def test_every_failed_attempts_wait_for_a_worker_is_said(
    harness: Harness,
    console: tuple[Any, list[str]],  # noqa: F811
    health_service: str,  # noqa: F811
) -> None:
    """Behaviour 6: each failed attempt's event says how long it waited for a worker
    and ran (its activity's failure carried it), and the panel lists them all."""
    page, problems = console
    name = unique("retried-waits")
    harness.register(name, RETRIED)
    run_id = harness.start(name, {"base": health_service})
    assert harness.wait_for(run_id, timeout=60)["status"] == "COMPLETED"
    retries = [
        e["data"] for e in harness.trace(run_id) if e["type"] == "PROGRESS" and e["level"] == "warn"
    ]
    assert [(r["attempt"], r["ranMs"] >= 0, r["queuedMs"] >= 0) for r in retries] == [
        (1, True, True),
        (2, True, True),
    ]

    page.goto(f"{harness.url}/#/runs/{run_id}")
    page.wait_for_selector(".badge.run-completed", timeout=20_000)
    node(page, "reach").click()
    details = page.locator("#inspector dl.details").inner_text()
    said = r"[\d.]+ m?s in the task queue, then ran [\d.]+ m?s"
    failed = rf"attempt 1 \(failed\): {said}\nattempt 2 \(failed\): {said}"
    assert re.search(rf"{failed}\nlast attempt: {said}", details), details
    assert not problems, problems
