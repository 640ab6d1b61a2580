"""Scale budgets of the simulator (docs/reliability.md, "Budgets"): a 100,000-iteration
monitoring loop and a 10,000-item with-items task complete, with exact outputs, within a
CPU-time budget about ten times what they take on the 2-core reference machine. (That the
state stays small however long the run is, benchmarks/coordinator.py measures.)

These are budgets, not performance targets (those are measured by benchmarks/): they
catch a run that stops finishing at scale (a quadratic step, a state that keeps growing),
and CPU time rather than wall time keeps them steady on a loaded machine."""

from __future__ import annotations

import time

from engine.language.loader import load_workflow
from engine.simulator.mocks import parse_mocks
from engine.simulator.waves import simulate

LOOP_ITERATIONS = 100_000
LOOP_BUDGET_CPU_S = 60.0  # measured: 4.6 s (benchmarks/coordinator.py, docs/performance.md)
ITEMS = 10_000
ITEMS_BUDGET_CPU_S = 5.0  # measured: 0.15 s

LOOP = f"""\
version: 1
vars: {{checks: 0}}
start: [check]
tasks:
  check:
    action: svc.health
    max_iterations: {LOOP_ITERATIONS}
    next:
      - when: $succeeded() and $ctx.checks < {LOOP_ITERATIONS - 1}
        publish: {{checks: <% $ctx.checks + 1 %>}}
        do: check
      - when: $succeeded() and $ctx.checks >= {LOOP_ITERATIONS - 1}
        publish: {{checks: <% $ctx.checks + 1 %>}}
output: {{checks: <% $ctx.checks %>}}
"""

ITEMS_WORKFLOW = f"""\
version: 1
tasks:
  hosts:
    with:
      items: <% [1..{ITEMS}] %>
      concurrency: 500
    action: svc.check
    input: {{host: <% $item %>}}
    next:
      - publish:
          n: <% $count($result) %>
          ok: <% $count($result[ok]) %>
output: {{n: <% $ctx.n %>, ok: <% $ctx.ok %>}}
"""


def test_a_hundred_thousand_iteration_loop_within_budget() -> None:
    spec = load_workflow(LOOP, "loop.yaml")
    began = time.process_time()
    outcome = simulate(spec, {}, parse_mocks([{"task": "check", "result": {"status": 503}}]))
    spent = time.process_time() - began
    assert outcome.status == "succeeded", outcome.errors
    assert outcome.output == {"checks": LOOP_ITERATIONS}
    assert len(outcome.sequence) == LOOP_ITERATIONS
    assert spent < LOOP_BUDGET_CPU_S, f"{spent:.1f} s of CPU"


def test_ten_thousand_items_within_budget() -> None:
    spec = load_workflow(ITEMS_WORKFLOW, "items.yaml")
    began = time.process_time()
    outcome = simulate(spec, {}, parse_mocks([{"task": "hosts", "result": {"ok": True}}]))
    spent = time.process_time() - began
    assert outcome.status == "succeeded", outcome.errors
    assert outcome.output == {"n": ITEMS, "ok": ITEMS}
    assert spent < ITEMS_BUDGET_CPU_S, f"{spent:.1f} s of CPU"
