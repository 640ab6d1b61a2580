"""Schema-valid workflow data -> the frozen `WorkflowSpec`, every expression compiled once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar

from engine.diagnostics import Category, Diagnostic
from engine.expressions import (
    CompileProblem,
    Condition,
    Template,
    compile_condition,
    compile_template,
)
from engine.expressions.template import Literal, strip_delimiters
from engine.language.spec import (
    JoinSpec,
    RetrySpec,
    TaskRun,
    TaskSpec,
    TransitionSpec,
    WithItemsSpec,
    WorkflowSpec,
)
from engine.language.wording import Path, clip, subject
from engine.language.yaml_source import SourceMap, YamlDocument

_EXPRESSION_CHARS: Final = 80
_Compiled = TypeVar("_Compiled", Template, Condition)


def build_spec(
    document: YamlDocument, *, name: str | None, content_hash: str
) -> tuple[WorkflowSpec, list[Diagnostic]]:
    """Compile a schema-valid document; expressions that do not compile become diagnostics."""
    builder = _Builder(document.source_map)
    spec = builder.workflow(document.data, name=name, content_hash=content_hash)
    return spec, [builder.diagnostic(problem) for problem in builder.problems]


def split_targets(raw: str | list[str] | None) -> tuple[str, ...]:
    """`do: a, b` or `do: [a, b]` -> ('a', 'b'); empty names are kept for the checks to report."""
    if raw is None:
        return ()
    parts = raw.split(",") if isinstance(raw, str) else raw
    return tuple(part.strip() for part in parts)


class _Builder:
    """Compiles the parts of a document, collecting the expressions that fail."""

    def __init__(self, source_map: SourceMap) -> None:
        self.source_map = source_map
        self.problems: list[CompileProblem] = []
        self.secrets: set[str] = set()  # every `$secret('name')` of the workflow

    def workflow(
        self, data: Mapping[str, Any], *, name: str | None, content_hash: str
    ) -> WorkflowSpec:
        return WorkflowSpec(
            tasks={task: self.task(task, raw) for task, raw in data["tasks"].items()},
            version=1,
            name=name,
            description=data.get("description"),
            input_schema=dict(data.get("input") or {}),
            vars=tuple(
                (key, self.template(value, ("vars", key)))
                for key, value in (data.get("vars") or {}).items()
            ),
            max_iterations=_optional_int(data.get("max_iterations")),
            timeout=float(data["timeout"]) if "timeout" in data else None,
            concurrency=_optional_int(data.get("concurrency")),
            retry=self.retry(data.get("retry"), ("retry",)),
            start=tuple(data["start"]) if "start" in data else None,
            output=self.optional(data, "output", ()),
            source=self.source_map.file,
            content_hash=content_hash,
            # Read after every task above compiled (keyword arguments run in order).
            secrets=frozenset(self.secrets),
        )

    def task(self, name: str, raw: Mapping[str, Any]) -> TaskSpec:
        path: Path = ("tasks", name)
        return TaskSpec(
            name=name,
            action=self.optional(raw, "action", path),
            workflow=self.optional(raw, "workflow", path),
            input=self.optional(raw, "input", path),
            next=tuple(
                self.transition(index, transition, (*path, "next", index))
                for index, transition in enumerate(raw.get("next") or ())
            ),
            join=_join(raw.get("join")),
            with_items=self.with_items(raw["with"], (*path, "with")) if "with" in raw else None,
            retry=self.retry(raw.get("retry"), (*path, "retry")),
            timeout=self.optional(raw, "timeout", path),
            delay=self.optional(raw, "delay", path),
            max_iterations=_optional_int(raw.get("max_iterations")),
            run=_task_run(raw.get("run")),
            position=self.source_map.key_position(path),
        )

    def transition(self, index: int, raw: Mapping[str, Any], path: Path) -> TransitionSpec:
        return TransitionSpec(
            index=index,
            when=self.condition(raw["when"], (*path, "when")) if "when" in raw else None,
            publish=tuple(
                (key, self.template(value, (*path, "publish", key)))
                for key, value in (raw.get("publish") or {}).items()
            ),
            do=split_targets(raw.get("do")),
            position=self.source_map.position(path),
        )

    def with_items(self, raw: str | Mapping[str, Any], path: Path) -> WithItemsSpec:
        if isinstance(raw, str):  # the shorthand is always an expression (LANGUAGE.md §2)
            return WithItemsSpec(items=self.template(f"<% {strip_delimiters(raw)} %>", path))
        return WithItemsSpec(
            items=self.template(raw["items"], (*path, "items")),
            concurrency=self.optional(raw, "concurrency", path),
        )

    def retry(self, raw: Mapping[str, Any] | None, path: Path) -> RetrySpec | None:
        if raw is None:
            return None
        return RetrySpec(
            count=self.optional(raw, "count", path),
            delay=self.optional(raw, "delay", path),
            backoff=self.optional(raw, "backoff", path),
            max_delay=self.optional(raw, "max_delay", path),
            when=self.condition(raw["when"], (*path, "when")) if "when" in raw else None,
            position=self.source_map.position(path),
        )

    def template(self, raw: Any, path: Path) -> Template:
        return self._noted(compile_template(raw, path, self.problems))

    def optional(self, raw: Mapping[str, Any], key: str, path: Path) -> Template | None:
        return self.template(raw[key], (*path, key)) if key in raw else None

    def condition(self, raw: str | bool, path: Path) -> Condition:
        # `when: true` is a YAML boolean; the condition of the same name is meant.
        text = ("true" if raw else "false") if isinstance(raw, bool) else raw
        return self._noted(compile_condition(text, path, self.problems))

    def _noted(self, compiled: _Compiled) -> _Compiled:
        if type(compiled) is Literal:  # most values: nothing to look into
            return compiled
        for expression in compiled.expressions():
            if expression.secret_names:
                self.secrets.update(expression.secret_names)
        return compiled

    def diagnostic(self, problem: CompileProblem) -> Diagnostic:
        error = problem.error
        position = self.source_map.fragment_position(problem.path, error.expression, error.offset)
        return Diagnostic(
            position,
            Category.EXPRESSION,
            f"{subject(problem.path)}: expression {clip(error.expression, _EXPRESSION_CHARS)!r} "
            f"does not compile: {error.message}",
        )


def _join(raw: Any) -> JoinSpec | None:
    if raw is None:
        return None
    return "all" if raw == "all" else int(raw)


def _optional_int(raw: Any) -> int | None:
    # The schema accepts 3.0 as an integer, as JSON does; the spec holds a real int.
    return None if raw is None else int(raw)


def _task_run(raw: Any) -> TaskRun | None:
    """The schema admits only these two values; anything else is left to its finding."""
    if raw == "local":
        return "local"
    if raw == "activity":
        return "activity"
    return None
