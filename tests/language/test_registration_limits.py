"""Registration refuses what a worker could not compile within a workflow task, before
compiling it; a version registered earlier still loads (the worker's path)."""

from __future__ import annotations

import time

import pytest

from engine.actions.catalog import ActionCatalog
from engine.diagnostics import Category
from engine.expressions.runtime import compile_expression
from engine.language.deployment import Deployment
from engine.language.limits import MAX_EXPRESSIONS, MAX_TASKS, distinct_expressions
from engine.language.loader import check_workflow

REGISTRATION = Deployment(ActionCatalog.builtin())


def tasks_with_expressions(tasks: int, per_task: int) -> str:
    """`tasks` echo tasks whose inputs hold `per_task` distinct expressions each."""
    lines = ["version: 1", "tasks:"]
    for task in range(tasks):
        lines += [f"  t{task}:", "    action: core.echo", "    input:"]
        lines += [f"      k{k}: <% $ctx.a + {task * per_task + k} %>" for k in range(per_task)]
    return "\n".join(lines) + "\n"


# (tasks, distinct expressions per task, refused with)
CASES = [
    (MAX_TASKS, 1, None),
    (MAX_TASKS + 1, 1, f"the workflow has {MAX_TASKS + 1} tasks"),
    (100, MAX_EXPRESSIONS // 100, None),
    (100, MAX_EXPRESSIONS // 100 + 1, f"the workflow has {MAX_EXPRESSIONS + 100} distinct"),
    # The worst a 1 MiB file held under the task bound alone: 2.8 s of CPU to compile.
    (1000, 30, "the workflow has 30000 distinct expressions"),
]


@pytest.mark.parametrize(("tasks", "per_task", "refusal"), CASES)
def test_registration_bounds_tasks_and_distinct_expressions(
    tasks: int, per_task: int, refusal: str | None
) -> None:
    compile_expression.cache_clear()
    began = time.process_time()
    result = check_workflow(
        tasks_with_expressions(tasks, per_task), "big.yaml", deployment=REGISTRATION
    )
    spent = time.process_time() - began
    if refusal is None:
        assert not result.errors, result.errors[:1]
        assert spent < 2.0, spent  # a Temporal workflow task may take 2 s
        return
    (error,) = result.errors
    assert error.category is Category.SCHEMA
    assert error.message.startswith(refusal), error.message
    assert "split it into child workflows" in error.message
    assert spent < 1.0, spent  # refused before anything is compiled


def test_repeated_expressions_count_once_and_conditions_count() -> None:
    data = {
        "tasks": {
            "a": {"input": {"x": "<% $ctx.a %>", "y": "x <% $ctx.a %> and <%$ctx.b%>"}},
            "b": {"next": [{"when": "$succeeded()"}, {"when": " $succeeded() "}]},
        }
    }
    assert distinct_expressions(data) == {"$ctx.a", "$ctx.b", "$succeeded()"}


def test_a_version_over_the_bounds_still_loads_where_runs_replay() -> None:
    # Without a deployment (the worker loading a stored version) the bounds do not apply.
    result = check_workflow(tasks_with_expressions(MAX_TASKS + 1, 1), "old.yaml")
    assert result.spec is not None and len(result.spec.tasks) == MAX_TASKS + 1
