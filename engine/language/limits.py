"""Registration's bounds on what a worker must compile, checked before anything is compiled.

Only where a workflow is checked for a deployment (registration, `segue validate`): a
version registered before a bound existed still loads in the worker, so runs in flight
replay as they ran.

Why these two (benchmarks/compile.py, docs/performance.md "Compile"): the worker
compiles a version once per process, inside the run's first workflow task, which
Temporal's deadlock detector stops after 2 s. Reading and checking costs ~0.09 ms of
CPU a task; each distinct expression text costs another ~0.09 ms to parse (repeated
texts are parsed once). The task count alone bounded neither: 1,000 tasks holding
30,000 distinct expressions (980 KB) took 2.8 s of CPU.
"""

from __future__ import annotations

import re
from typing import Any, Final

from engine.diagnostics import Category, Diagnostic
from engine.language.yaml_source import YamlDocument

MAX_TASKS: Final = 1000
MAX_EXPRESSIONS: Final = 5000  # distinct texts: ~0.45 s of CPU to parse them all here

_BLOCK: Final = re.compile(r"<%(.*?)%>", re.DOTALL)
_SPLIT_HINT: Final = "(docs/reliability.md, Limits): split it into child workflows"


def over_limits(document: YamlDocument) -> Diagnostic | None:
    """The first registration bound the document breaks, if any."""
    return _too_many_tasks(document) or _too_many_expressions(document)


def _too_many_tasks(document: YamlDocument) -> Diagnostic | None:
    tasks = document.data.get("tasks")
    if not isinstance(tasks, dict) or len(tasks) <= MAX_TASKS:
        return None
    return Diagnostic(
        document.source_map.key_position(("tasks",)),
        Category.SCHEMA,
        f"the workflow has {len(tasks)} tasks; a workflow may have at most {MAX_TASKS} "
        + _SPLIT_HINT,
    )


def _too_many_expressions(document: YamlDocument) -> Diagnostic | None:
    count = len(distinct_expressions(document.data))
    if count <= MAX_EXPRESSIONS:
        return None
    return Diagnostic(
        document.source_map.position(()),
        Category.SCHEMA,
        f"the workflow has {count} distinct expressions; a workflow may have at most "
        f"{MAX_EXPRESSIONS} " + _SPLIT_HINT,
    )


def distinct_expressions(data: Any) -> set[str]:
    """Every expression text the document holds: `<% %>` blocks and `when` conditions
    (an over-count is harmless: it only errs towards the bound). Walked without
    recursion, so any depth the YAML composer admitted is fine."""
    found: set[str] = set()
    pending: list[tuple[Any, Any]] = [(None, data)]
    while pending:
        key, value = pending.pop()
        if isinstance(value, str):
            if key == "when":
                found.add(value.strip())
            elif "<%" in value:
                found.update(block.strip() for block in _BLOCK.findall(value))
        elif isinstance(value, dict):
            pending.extend(value.items())
        elif isinstance(value, list):
            pending.extend((None, item) for item in value)
    return found
