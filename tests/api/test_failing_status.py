"""A run that is failing while another branch still waits says so at once (issue 18,
case 7): its status stays RUNNING — Temporal still runs it — and its errors are there,
not `[]` until the last branch ends."""

from __future__ import annotations

import time

from tests.api.conftest import Harness, unique

FAILING_WHILE_WAITING = """\
version: 1
tasks:
  start:
    action: core.noop
    next: [{do: [boom, approve]}]
  boom:
    action: core.fail
    input: {type: boom, message: broken on purpose}
  approve:
    action: core.approval
"""


def test_a_failing_run_shows_its_errors_while_a_branch_still_waits(harness: Harness) -> None:
    name = unique("failing")
    harness.register(name, FAILING_WHILE_WAITING)
    run_id = harness.start(name)
    try:
        deadline = time.monotonic() + 30
        status: dict[str, object] = {}
        while time.monotonic() < deadline:
            status = harness.client.get(f"/runs/{run_id}").json()
            if status.get("errors"):
                break
            time.sleep(0.3)
        assert status["status"] == "RUNNING", status
        errors = status["errors"]
        assert isinstance(errors, list)
        assert [(e["type"], e.get("task")) for e in errors] == [("action_failed", "boom")]
    finally:
        harness.client.post(f"/runs/{run_id}/cancel")


HANDLED_FAILURES = """\
version: 1
vars: {n: 0}
start: [boom]
tasks:
  boom:
    action: core.fail
    input: {type: boom, message: handled on every lap}
    max_iterations: 200
    next:
      - {when: $ctx.n < 104, publish: {n: <% $ctx.n + 1 %>}, do: boom}
      - {when: $ctx.n >= 104, do: noop}
"""


def test_error_entries_beyond_those_kept_are_counted_in_the_status(harness: Harness) -> None:
    """The run keeps 100 error entries in full; the status says how many more it counted
    (`errorsDropped`), as docs/language.md promises."""
    name = unique("handled")
    harness.register(name, HANDLED_FAILURES)
    final = harness.wait_for(harness.start(name))
    assert final["status"] == "COMPLETED", final
    assert (len(final["errors"]), final["errorsDropped"]) == (100, 5)
