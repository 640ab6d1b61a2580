"""The one way to read a workflow: YAML -> schema -> spec -> semantic checks, all reported."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

from engine.diagnostics import Category, Diagnostic, Severity, WorkflowInvalid
from engine.language.build import build_spec
from engine.language.checks import check_spec
from engine.language.collection import collector_paused
from engine.language.concurrency_limits import build_limits, build_task_limits
from engine.language.deployment import Deployment
from engine.language.limits import over_limits
from engine.language.salvage import Damage, salvage
from engine.language.schedules import build_schedules
from engine.language.schema import validate_schema
from engine.language.spec import WorkflowSpec
from engine.language.yaml_source import MAX_BYTES, YamlDocument, parse_yaml


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A checked workflow: the spec when there are no errors, and every finding, in file order."""

    spec: WorkflowSpec | None
    diagnostics: list[Diagnostic]
    notes: tuple[str, ...] = ()  # checks that could not be made here, and why

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


def check_workflow(
    data: bytes | str,
    source: str,
    name: str | None = None,
    *,
    deployment: Deployment | None = None,
    bounded: bool = False,
    context_reads: bool = True,
) -> LoadResult:
    """Validate workflow text; `name` defaults to the stem of `source`. With `deployment`,
    also check its action and child workflow names (what registration checks). With a
    deployment, or `bounded`, refuse what is over the registration limits (tasks,
    distinct expressions: engine/language/limits.py) before compiling. Without
    `context_reads`, the `$ctx` read warnings are not looked for (the spec is the same)."""
    with collector_paused():
        return _check_workflow(data, source, name, deployment, bounded, context_reads)


def _check_workflow(
    data: bytes | str,
    source: str,
    name: str | None,
    deployment: Deployment | None,
    bounded: bool,
    context_reads: bool,
) -> LoadResult:
    document, diagnostics = parse_yaml(data, source)
    if document is None:
        return _result(None, diagnostics)
    if deployment is not None or bounded:
        too_much = over_limits(document)
        if too_much is not None:
            return _result(None, [too_much])
    report = validate_schema(document)
    damage = Damage()
    if report.unreadable:
        # Check what can still be read: its findings come with the schema's, in one pass.
        salvaged = salvage(document.data, report.unreadable)
        if salvaged is None:
            return _result(None, report.diagnostics)
        document = YamlDocument(salvaged.data, document.source_map)
        damage = salvaged.damage
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    spec, diagnostics = build_spec(
        document,
        name=name if name is not None else Path(source).stem,
        content_hash=hashlib.sha256(raw).hexdigest(),
    )
    schedules, schedule_findings = build_schedules(document.data, document.source_map)
    limits, limit_findings = build_limits(document.data, document.source_map)
    task_limits, task_limit_findings = build_task_limits(document.data, document.source_map, limits)
    tasks = {
        name: replace(task, limits=task_limits[name]) if name in task_limits else task
        for name, task in spec.tasks.items()
    }
    spec = replace(spec, schedules=schedules, limits=limits, tasks=tasks)
    diagnostics = [
        *report.diagnostics,
        *diagnostics,
        *check_spec(spec, document.source_map, damage, context_reads=context_reads),
        *schedule_findings,
        *limit_findings,
        *task_limit_findings,
    ]
    notes: list[str] = []
    if deployment is not None:
        found, notes = deployment.check(spec, document.source_map)
        diagnostics += found
    return _result(spec, diagnostics, notes)


def load_workflow(data: bytes | str, source: str, name: str | None = None) -> WorkflowSpec:
    """The compiled workflow, or `WorkflowInvalid` carrying every finding."""
    # What compiles needs no warnings: the `$ctx` read check (warnings only) is left out,
    # and made only for a workflow that does not compile, so that its `WorkflowInvalid`
    # carries every finding as it always did.
    result = check_workflow(data, source, name, context_reads=False)
    if result.spec is None:
        result = check_workflow(data, source, name)
    return _spec_or_raise(result)


def check_workflow_file(
    path: str | os.PathLike[str], *, deployment: Deployment | None = None, bounded: bool = False
) -> LoadResult:
    """Validate a workflow file (an unreadable file is a FILE diagnostic)."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            # One byte past the limit is enough to report the file as too large.
            data = file.read(MAX_BYTES + 1)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        return LoadResult(
            None, [Diagnostic(None, Category.FILE, f"{source}: cannot read: {reason}")]
        )
    return check_workflow(data, source, deployment=deployment, bounded=bounded)


def load_workflow_file(path: str | os.PathLike[str]) -> WorkflowSpec:
    """The compiled workflow of a file, or `WorkflowInvalid`."""
    return _spec_or_raise(check_workflow_file(path))


def _spec_or_raise(result: LoadResult) -> WorkflowSpec:
    if result.spec is None:
        raise WorkflowInvalid(result.diagnostics)
    return result.spec


def _result(
    spec: WorkflowSpec | None, diagnostics: list[Diagnostic], notes: list[str] | None = None
) -> LoadResult:
    unique = list(dict.fromkeys(diagnostics))
    unique.sort(key=lambda d: (d.position.line, d.position.column) if d.position else (0, 0))
    has_errors = any(d.severity is Severity.ERROR for d in unique)
    return LoadResult(None if has_errors else spec, unique, tuple(notes or ()))
