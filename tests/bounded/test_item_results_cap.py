"""A with-items execution keeps at most MAX_ITEM_RESULTS_BYTES of item results (behaviour
5): each item's result is under the action result limit, but 10,000 of them added up
without bound in the worker's memory and in every snapshot of the run."""

from __future__ import annotations

import pytest

from engine.coordinator.behaviour import Behaviour
from engine.coordinator.payloads import MAX_ITEM_RESULTS_BYTES, PAYLOAD_TOO_LARGE
from engine.language.loader import load_workflow
from engine.simulator.mocks import MockEntry
from engine.simulator.waves import simulate

RESULT = "x" * 1_000_000  # 1,000,002 bytes as JSON
ITEMS = 40  # 40 MB in all: past the 16 MiB cap at the 17th item

EACH = f"""
version: 1
vars: {{n: null, failed: null}}
tasks:
  each:
    with:
      items: <% [1..{ITEMS}] %>
      concurrency: 1
    action: test.blob
    next:
      - when: $succeeded()
        publish: {{n: <% $count($result) %>}}
      - when: $failed()
        publish: {{failed: <% $error.type %>}}
        do: after
  after:
    action: core.noop
output: {{n: <% $ctx.n %>, failed: <% $ctx.failed %>}}
"""

FIRST_OVER = MAX_ITEM_RESULTS_BYTES // len(f'"{RESULT}"')  # the 0-based item past the cap


# (behaviour, the run's output)
CASES = [
    (Behaviour.TIMED, {"failed": PAYLOAD_TOO_LARGE}),
    (Behaviour.EXPLAINED, {"n": ITEMS}),  # runs started before keep going
]


@pytest.mark.parametrize(("behaviour", "output"), CASES)
def test_item_results_past_the_cap_fail_the_item_that_crosses_it(
    behaviour: Behaviour, output: dict[str, object]
) -> None:
    spec = load_workflow(EACH, "each.yaml")
    book = [MockEntry(task="each", result=RESULT)]
    outcome = simulate(spec, {}, book, behaviour=behaviour, roundtrip_state=True)
    assert outcome.status == "succeeded", outcome.errors  # the failure is handled
    assert {k: v for k, v in outcome.output.items() if v is not None} == output
    assert [entry.task for entry in outcome.sequence] == (
        ["each", "after"] if behaviour is Behaviour.TIMED else ["each"]
    )
    assert FIRST_OVER == 16  # 16 results fit in 16 MiB, the 17th does not


def test_the_error_names_the_item_and_the_cap() -> None:
    spec = load_workflow(EACH.replace("      - when: $failed()", "      - when: false"), "e.yaml")
    outcome = simulate(spec, {}, [MockEntry(task="each", result=RESULT)])
    assert outcome.status == "failed"
    (error,) = outcome.errors
    assert (error.type, error.task) == (PAYLOAD_TOO_LARGE, "each")
    assert f"item {FIRST_OVER}: with its result of 1,000,002 bytes" in error.message
    assert f"{MAX_ITEM_RESULTS_BYTES:,} a with-items task keeps" in error.message
