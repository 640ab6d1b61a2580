"""A workflow's `concurrency_limits`: the schema-valid mapping read into `LimitSpec`s (the
key compiled as a template), and how a run's key is rendered.

Not to be confused with `concurrency` (a cap on one run's own action executions): a limit
is shared by every run, of any workflow, that declares the same name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from engine.diagnostics import Category, Diagnostic
from engine.expressions import CompileProblem, ExpressionError, Scope, compile_template
from engine.language.spec import LimitSpec
from engine.language.wording import Path, subject
from engine.language.yaml_source import SourceMap

MAX_KEY_CHARS: Final = 256  # of a rendered key (the store CHECKs it too)
DEFAULT_KEY: Final = "*"  # the key of a limit that declares none: one pool


def build_limits(
    data: Mapping[str, Any], source_map: SourceMap
) -> tuple[tuple[LimitSpec, ...], list[Diagnostic]]:
    """The limits of a schema-valid document in name order, and their problems."""
    return _build(data.get("concurrency_limits"), ("concurrency_limits",), source_map)


def build_task_limits(
    data: Mapping[str, Any], source_map: SourceMap, run_limits: tuple[LimitSpec, ...]
) -> tuple[dict[str, tuple[LimitSpec, ...]], list[Diagnostic]]:
    """Each task's own limits (tasks without any left out), and their problems: a key
    that does not compile; a task that runs no action (a pass-through or a `workflow:`
    task: nothing to hold a slot while it runs); a name the workflow declares too (the
    run would wait for the slot it holds itself)."""
    tasks = data.get("tasks")
    if not isinstance(tasks, Mapping):
        return {}, []
    found: dict[str, tuple[LimitSpec, ...]] = {}
    diagnostics: list[Diagnostic] = []
    run_names = {limit.name for limit in run_limits}
    for task, raw_task in tasks.items():
        if not isinstance(raw_task, Mapping) or "concurrency_limits" not in raw_task:
            continue
        path: Path = ("tasks", task, "concurrency_limits")
        limits, problems = _build(raw_task["concurrency_limits"], path, source_map)
        diagnostics += problems
        if "action" not in raw_task:
            diagnostics.append(
                _problem(source_map, path, "a task limit needs an `action` to hold it")
            )
        for limit in limits:
            if limit.name in run_names:
                diagnostics.append(
                    _problem(
                        source_map,
                        (*path, limit.name),
                        f"the workflow declares limit {limit.name!r} for the whole run: a "
                        "task of the run would wait for the slot its own run holds",
                    )
                )
        if limits:
            found[str(task)] = limits
    return found, diagnostics


def _problem(source_map: SourceMap, path: Path, message: str) -> Diagnostic:
    return Diagnostic(source_map.position(path), Category.LIMIT, f"{subject(path)}: {message}")


def _build(
    raw_limits: Any, at: Path, source_map: SourceMap
) -> tuple[tuple[LimitSpec, ...], list[Diagnostic]]:
    if not isinstance(raw_limits, Mapping):
        return (), []
    found: list[LimitSpec] = []
    diagnostics: list[Diagnostic] = []
    for name in sorted(raw_limits):
        raw = raw_limits[name]
        if not isinstance(raw, Mapping) or not isinstance(raw.get("limit"), int):
            continue  # the schema reported it
        path: Path = (*at, name, "key")
        problems: list[CompileProblem] = []
        key = compile_template(raw["key"], path, problems) if "key" in raw else None
        for problem in problems:
            diagnostics.append(_problem(source_map, problem.path, str(problem.error)))
        found.append(
            LimitSpec(
                name=str(name),
                capacity=int(raw["limit"]),
                key=key,
                strategy=str(raw.get("strategy", "queue")),
                priority=int(raw.get("priority", 0)),
            )
        )
    return tuple(found), diagnostics


def render_key(limit: LimitSpec, scope: Scope) -> str:
    """The run's key of `limit`: the template's value as text (a string as is, anything
    else as JSON). Raises `ExpressionError` for a key that fails, is empty or too long."""
    if limit.key is None:
        return DEFAULT_KEY
    value = limit.key.render(scope)
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    field = f"concurrency_limits.{limit.name}.key"
    if not text or len(text) > MAX_KEY_CHARS:
        raise ExpressionError(
            f"the key of limit {limit.name!r} must be 1 to {MAX_KEY_CHARS} characters, "
            f"got {len(text)}",
            expression=text[:80],
            field=field,
        )
    return text
