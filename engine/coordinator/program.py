"""What the coordinator precomputes once per workflow version: the graph facts, the
run-input validator and every task's merged retry layers."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

from engine.expressions import CompiledExpression, Condition, Template
from engine.graph import WorkflowGraph, build_graph
from engine.language.linear_regex import LinearValidator
from engine.language.spec import ENGINE_COMMANDS, RetrySpec, WorkflowSpec
from engine.masking import MASK, Masker, secret_values


@dataclass(frozen=True, slots=True)
class RetryLayers:
    """The retry fields of the layers above the action default, merged (task over workflow)."""

    count: Template | None = None
    delay: Template | None = None
    backoff: Template | None = None
    max_delay: Template | None = None
    when: Condition | None = None

    def under(self, lower: RetrySpec | None) -> RetryLayers:
        """These layers over a lower one: each field from the highest layer that sets it."""
        if lower is None:
            return self
        return RetryLayers(
            count=self.count or lower.count,
            delay=self.delay or lower.delay,
            backoff=self.backoff or lower.backoff,
            max_delay=self.max_delay or lower.max_delay,
            when=self.when or lower.when,
        )


def _layers(*specs: RetrySpec | None) -> RetryLayers:
    """Merge retry specs given from highest to lowest precedence."""
    merged = RetryLayers()
    for spec in specs:
        merged = merged.under(spec)
    return merged


@dataclass(frozen=True, slots=True)
class InputProblem:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class TransitionNames:
    published: tuple[str, ...]
    targets: tuple[str, ...]
    commands: tuple[str, ...]


class WorkflowProgram:
    """A workflow version ready to run: spec plus everything derived from it."""

    def __init__(self, spec: WorkflowSpec) -> None:
        self.spec = spec
        self.graph: WorkflowGraph = build_graph(spec)
        self.retry: dict[str, RetryLayers] = {
            name: _layers(task.retry, spec.retry) for name, task in spec.tasks.items()
        }
        self._defaults = {
            name: schema["default"]
            for name, schema in spec.input_schema.items()
            if isinstance(schema, dict) and "default" in schema
        }
        schema = {
            "type": "object",
            "properties": spec.input_schema,
            "required": [name for name in spec.input_schema if name not in self._defaults],
            "additionalProperties": False,
        }
        self._validator = Draft202012Validator(schema, format_checker=FormatChecker())
        # Regexes on RE2 (linear time): the API, and runs on behaviour 2 and later.
        self._linear_validator = LinearValidator(schema, format_checker=FormatChecker())
        # What each transition notice names (behaviour 3): published names, targets and
        # engine commands, by (task, index in `next`).
        self.transition_names: dict[tuple[str, int], TransitionNames] = {
            (name, transition.index): TransitionNames(
                tuple(published for published, _ in transition.publish),
                transition.targets,
                tuple(step for step in transition.do if step in ENGINE_COMMANDS),
            )
            for name, task in spec.tasks.items()
            for transition in task.next
        }
        # Latest statuses are kept only for workflows that can ask for them.
        self.tracks_task_status = any(
            "task_status" in expression.source for expression in spec_expressions(spec)
        )

    def prepare_input(
        self, given: Mapping[str, Any], *, linear_regex: bool = True
    ) -> tuple[dict[str, Any], list[InputProblem]]:
        """The run input with defaults applied, and every violation of the input schema.
        `linear_regex=False`: schema regexes on Python's `re`, as runs before behaviour 2."""
        if not isinstance(given, Mapping):
            return {}, [InputProblem("", "the run input must be a JSON object")]
        values = dict(given)
        for name, default in self._defaults.items():
            values.setdefault(name, copy.deepcopy(default))
        validator = self._linear_validator if linear_regex else self._validator
        problems = [
            InputProblem(
                "/" + "/".join(str(part) for part in error.absolute_path),
                _clipped(self._shown(error, values)),
            )
            for error in sorted(validator.iter_errors(values), key=lambda e: list(e.path))
        ]
        return values, problems

    def _shown(self, error: jsonschema.ValidationError, values: Mapping[str, Any]) -> str:
        """A violation's message without the value of a secret input (jsonschema quotes
        the value it refuses: `'hunter2' is too short`)."""
        secret = self.spec.secret_inputs
        if not secret:
            return error.message
        message = error.message
        if error.absolute_path and error.absolute_path[0] in secret:
            message = message.replace(repr(error.instance), MASK)
        return Masker(text for name in secret for text in secret_values(values.get(name))).text(
            message
        )


def _clipped(message: str) -> str:
    return message if len(message) <= 300 else message[:300] + "…"


def spec_expressions(spec: WorkflowSpec) -> Iterator[CompiledExpression]:
    """Every compiled expression of a workflow."""
    templates: list[Template | None] = [template for _, template in spec.vars]
    templates.append(spec.output)
    conditions: list[Condition | None] = []
    for retry in (spec.retry, *(task.retry for task in spec.tasks.values())):
        if retry is not None:
            templates += [retry.count, retry.delay, retry.backoff, retry.max_delay]
            conditions.append(retry.when)
    for task in spec.tasks.values():
        templates += [task.action, task.workflow, task.input, task.timeout, task.delay]
        if task.with_items is not None:
            templates += [task.with_items.items, task.with_items.concurrency]
        for transition in task.next:
            conditions.append(transition.when)
            templates += [template for _, template in transition.publish]
    for template in templates:
        if template is not None:
            yield from template.expressions()
    for condition in conditions:
        if condition is not None:
            yield from condition.expressions()


_PROGRAMS: dict[int, WorkflowProgram] = {}


def program_for(spec: WorkflowSpec) -> WorkflowProgram:
    """The program of a spec, built once per spec object (specs are immutable)."""
    found = _PROGRAMS.get(id(spec))
    if found is None or found.spec is not spec:
        found = WorkflowProgram(spec)
        if len(_PROGRAMS) > 256:
            _PROGRAMS.clear()
        _PROGRAMS[id(spec)] = found
    return found
