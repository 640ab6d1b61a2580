"""A task that starts to wait says, in the progress, how to answer it (issue 13, point 9):
the hint is a trace event, so the CLI, SSE and `segue trace` all show it."""

from __future__ import annotations

from tests.api.conftest import Harness, unique
from tests.api.test_runs import APPROVAL


def test_a_waiting_approval_says_how_to_answer(harness: Harness) -> None:
    name = unique("hint")
    harness.register(name, APPROVAL)
    run_id = harness.start(name)
    try:
        hint = harness.wait_for_event(
            run_id, lambda e: e["type"] == "PROGRESS" and "waiting for" in (e["message"] or "")
        )
        assert hint["nodeId"] == "approve"
        assert f"segue signal {run_id} approve --payload" in hint["message"]
    finally:
        harness.client.post(f"/runs/{run_id}/cancel")
