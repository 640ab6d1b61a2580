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
    raw_limits = data.get("concurrency_limits")
    if not isinstance(raw_limits, Mapping):
        return (), []
    found: list[LimitSpec] = []
    diagnostics: list[Diagnostic] = []
    for name in sorted(raw_limits):
        raw = raw_limits[name]
        if not isinstance(raw, Mapping) or not isinstance(raw.get("limit"), int):
            continue  # the schema reported it
        path: Path = ("concurrency_limits", name, "key")
        problems: list[CompileProblem] = []
        key = compile_template(raw["key"], path, problems) if "key" in raw else None
        for problem in problems:
            diagnostics.append(
                Diagnostic(
                    source_map.position(problem.path),
                    Category.LIMIT,
                    f"{subject(problem.path)}: {problem.error}",
                )
            )
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
