"""`POST /workflows/{name}/simulate`: "what if" — the path a run of a workflow version
would take with the given input and mocked action outcomes, computed by the pure
simulator (engine/simulator, what `segue simulate` runs) in an `api.cpu_pool` process.

The console starts from a run's export (`GET /runs/{id}/export`), changes one mock and
draws the answer over the graph, so the answer is shaped for that: per-task counts and
per-edge taken counts (bounded by the graph, not by the run), the first executions in
order, the status, output and errors.

Hostile input is bounded in layers: the API's body limits (1 MiB, JSON nesting 64)
before anything is decoded; at most MAX_MOCK_ENTRIES entries, checked here, so a
mocks document of 100,000 one-byte entries is refused by name; every expression the
simulated run evaluates spends the expression budget (a `when` that never ends fails the
simulated run with the budget's own message, as it would fail a real one); and the whole
simulation runs in a worker process stopped after SIMULATE_DEADLINE_SECONDS (a loop
with mocks that keep it going up to the iteration cap), answered 422 TOO_COSTLY.

Named secrets stay out: the API process never holds their values, so `$secret('x')`
gives a placeholder here, and values of inputs declared `secret: true` are masked in
the answer as in the CLI's.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

from api import cpu_work
from api.problems import ApiProblem
from engine.masking import Masker, secret_values
from engine.simulator.mocks import MockError, parse_mocks, unknown_mock_tasks
from engine.simulator.waves import simulate

MAX_MOCK_ENTRIES: Final = 10_000
SIMULATE_DEADLINE_SECONDS: Final = 10.0
# Executions listed in order; the per-task and per-edge counts always cover the whole run.
MAX_SEQUENCE: Final = 1_000


def secret_placeholder(name: str) -> str:
    """What `$secret(name)` gives in a what-if (the real value never reaches the API)."""
    return f"<secret {name}>"


def simulate_version(
    name: str, yaml: str, content_hash: str, given_input: Any, raw_mocks: Any
) -> dict[str, Any]:
    """The what-if of one workflow version (runs in a worker process; plain data out).

    Refusals come back as `{"problem": {...}}` rather than raised, so the caller turns
    them into problem JSON without pickling exceptions across the process boundary."""
    program = cpu_work._program(name, yaml, content_hash)
    spec = program.spec
    run_input, problems = program.prepare_input(given_input if given_input is not None else {})
    if problems:
        return {
            "problem": {
                "status": 422,
                "code": "INPUT_INVALID",
                "detail": f"the input breaks the input schema of {name!r} "
                f"({len(problems)} problem(s))",
                "errors": [{"path": p.path, "reason": p.reason} for p in problems],
            }
        }
    try:
        mocks = parse_mocks(raw_mocks)
    except MockError as error:
        return {"problem": {"status": 422, "code": "MOCKS_INVALID", "detail": str(error)}}
    warnings = unknown_mock_tasks(mocks, spec)
    secrets = {secret: secret_placeholder(secret) for secret in spec.secrets}
    result = simulate(spec, run_input, mocks, secrets=secrets)

    tasks: dict[str, dict[str, Any]] = {}
    for entry in result.sequence:
        summary = tasks.setdefault(
            entry.task, {"executions": 0, "succeeded": 0, "failed": 0, "status": "pending"}
        )
        summary["executions"] += 1
        if entry.status in ("succeeded", "failed"):
            summary[entry.status] += 1
        summary["status"] = entry.status  # the latest execution's, as the run page shows
    taken: Counter[tuple[str, int, str]] = Counter()
    for notice in result.transitions:
        if notice.taken:
            for target in notice.targets:
                taken[(notice.execution.task, notice.transition, target)] += 1
    report: dict[str, Any] = {
        "workflow": name,
        "status": result.status,
        "output": result.output,
        "errors": [error.to_json() for error in result.errors],
        "tasks": tasks,
        "edges": [
            {"from": source, "transition": index, "to": target, "taken": count}
            for (source, index, target), count in taken.items()
        ],
        "sequence": [entry.to_json() for entry in result.sequence[:MAX_SEQUENCE]],
        "sequenceTotal": len(result.sequence),
        "warnings": warnings,
        # The console keeps these out of a what-if link (no secret goes into a URL).
        "secretInputs": sorted(spec.secret_inputs),
    }
    masker = Masker(
        [text for secret in spec.secret_inputs for text in secret_values(run_input.get(secret))]
    )
    return masker.value(report)  # type: ignore[no-any-return]


def check_mocks_size(raw_mocks: Any) -> None:
    """422 MOCKS_TOO_MANY before a long list crosses to a worker process."""
    if isinstance(raw_mocks, list) and len(raw_mocks) > MAX_MOCK_ENTRIES:
        raise ApiProblem(
            422,
            "MOCKS_TOO_MANY",
            f"the mocks document has {len(raw_mocks)} entries; a what-if takes at most "
            f"{MAX_MOCK_ENTRIES}",
        )


def raise_refusal(answer: dict[str, Any]) -> None:
    problem = answer.get("problem")
    if problem is not None:
        raise ApiProblem(
            problem["status"], problem["code"], problem["detail"], errors=problem.get("errors")
        )
