"""`GET /metrics` on the API: requests by route template (never by run), the live SSE
streams, and a token needed as on every route but `/health`."""

from __future__ import annotations

import re

from tests.api.conftest import Harness, unique
from tests.api.test_runs import APPROVAL


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} ([0-9.e+-]+)$", line)
        if match and all(f'{key}="{value}"' in match[1] for key, value in labels.items()):
            total += float(match[2])
    return total


def test_requests_are_counted_by_route_template(harness: Harness) -> None:
    name = unique("metrics")
    harness.register(name, APPROVAL)
    run_id = harness.start(name)
    for _ in range(3):
        assert harness.client.get(f"/runs/{run_id}").status_code == 200
    text = harness.client.get("/metrics").text
    template = "/runs/{run_id}"
    assert _value(text, "segue_api_requests_total", method="GET", path=template) >= 3
    assert run_id not in text  # no series per run
    assert "segue_sse_streams" in text
    harness.client.post(f"/runs/{run_id}/cancel")


def test_runs_not_ended_are_counted_per_workflow(harness: Harness) -> None:
    name = unique("active")
    harness.register(name, APPROVAL)
    runs = [harness.start(name) for _ in range(2)]
    for run_id in runs:
        harness.wait_for(run_id, lambda status: status["status"] == "RUNNING")
    text = harness.client.get("/metrics").text
    assert _value(text, "segue_runs_active", workflow=name) == 2
    assert _value(text, "segue_runs_oldest_idle_seconds", workflow=name) >= 0
    harness.client.post(f"/runs/{runs[0]}/cancel")
    harness.wait_for(runs[0])
    text = harness.client.get("/metrics").text
    assert _value(text, "segue_runs_active", workflow=name) == 1
    harness.client.post(f"/runs/{runs[1]}/cancel")
    harness.wait_for(runs[1])
    assert (
        f'workflow="{name}"'
        not in harness.client.get("/metrics")
        .text.split("segue_runs_active", 1)[1]
        .split("# HELP", 1)[0]
    )


def test_metrics_need_a_token(harness: Harness) -> None:
    import httpx

    answer = httpx.get(f"{harness.client.base_url}/metrics", timeout=10)
    assert answer.status_code == 401
