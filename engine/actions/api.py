"""The plugin API: what an action is, what it sees while it runs, and how it fails.

An action is a handler `(input, context) -> result`, plain or `async def`, wrapped in an
`ActionDefinition` that names it and carries its metadata. Nothing here knows about
Temporal: the host (the Temporal binding, a test, the simulator) builds the
`ActionContext` and supplies its heartbeat and cancellation callables and the reporter
that takes its logs, progress and artifacts.
"""

from __future__ import annotations

import enum
import inspect
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Protocol

import jsonschema
import jsonschema.protocols
from jsonschema import validators

from engine.actions.reporting import (
    NO_REPORTER,
    TaskReporter,
    checked_artifact,
    checked_log,
    checked_progress,
)
from engine.masking import secret_values

# Dotted lower-case names with at least two segments: `core.echo`, `mypack.sub.op`.
ACTION_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
RETRY_FIELDS: Final = ("count", "delay", "backoff", "max_delay")

# How many schema violations an `invalid_input` error lists, and how long each may be.
_MAX_VIOLATIONS: Final = 50
_MAX_VIOLATION_CHARS: Final = 300


class Heartbeat(Protocol):
    """`heartbeat(details=None)`: tell the host the action is alive (and where it is)."""

    def __call__(self, details: Any = None, /) -> None: ...


def _no_heartbeat(details: Any = None, /) -> None:
    return None


def _never_cancelled() -> bool:
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionContext:
    """Where an action execution runs (LANGUAGE.md `$task`) and the host's callables.

    `heartbeat`, `is_cancelled` and `reporter` default to no-ops so that tests and local
    tools can build a context with only the identifying fields. An action reports with
    `log`, `progress` and `artifact` (docs/actions.md "Logs, progress, artifacts").
    """

    run_id: str
    workflow: str
    task: str
    iteration: int = 1
    route: int = 0
    attempt: int = 1
    item: int | None = None  # the with-items index, None outside with-items
    heartbeat: Heartbeat = _no_heartbeat
    is_cancelled: Callable[[], bool] = _never_cancelled
    reporter: TaskReporter = NO_REPORTER
    execution: int = 0  # the execution's id in its run (0 outside a run)

    def log(self, level: str, message: str, /, **data: Any) -> None:
        """A log line of this attempt: `level` is debug, info, warn or error; `data` JSON."""
        self.reporter.log(level, message, checked_log(level, message, data))

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """How far the attempt is: `done` of `total` (units of the action's choosing)."""
        self.reporter.progress(*checked_progress(done, total, message))

    def artifact(
        self, name: str, content: bytes | str | os.PathLike[str], media_type: str | None = None
    ) -> None:
        """Keep a file this attempt produced: bytes, text, or the path of a file."""
        self.reporter.artifact(*checked_artifact(name, content, media_type))


class ActionError(Exception):
    """An action's failure as the workflow sees it: `$error` = {type, message, details?}.

    `type` is a short stable code (`http_error`, `timeout`, `invalid_input`, ...) that
    workflows branch on; `message` is for people; `details` is any JSON value.
    """

    def __init__(self, type: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle through `args`, which holds only the message.
        return (type(self), (self.type, self.message, self.details))

    def to_json(self) -> dict[str, Any]:
        """The `$error` value: details only when there are some."""
        data: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.details is not None:
            data["details"] = self.details
        return data


# `handler(input, context)` returning a JSON value, or an awaitable of one.
Handler = Callable[[Any, ActionContext], Any]


class Placement(enum.Enum):
    """Where the Temporal binding runs an action's attempts.

    The one declaration the interpreter, `segue simulate`, validation and the docs read.
    Code that branches on placement matches every member, so a new one is a type error
    until each site handles it. A task may move an action between LOCAL_ACTIVITY and
    ACTIVITY with `run: local|activity`; nothing moves a WORKFLOW action.
    """

    # Carried out by the workflow itself: no activity, recorded in the workflow's
    # history only by what it causes (a timer, a wait, a result). Deterministic engine
    # actions only (`core.*`); never a plugin.
    WORKFLOW = "workflow"
    # One Temporal local activity per attempt, run by the worker that runs the workflow
    # task and recorded with that task's completion: no activity task round trip through
    # the server, so several times cheaper, but an attempt cut off by a worker loss is
    # started again from the beginning, and its worker cannot be chosen apart from the
    # workflow's. For short, idempotent work.
    LOCAL_ACTIVITY = "local_activity"
    # One Temporal activity per attempt, on any worker of the task queue.
    ACTIVITY = "activity"


@dataclass(frozen=True, slots=True)
class ActionDefinition:
    """One action: its name, its handler and what the engine needs to know to run it.

    - `placement`: where the Temporal binding runs it (see `Placement`). Only built-in
      engine actions may be `Placement.WORKFLOW` (the catalog refuses a plugin that
      asks); their `handler` then serves `invoke` outside a workflow.
    - `retry_defaults`: the action's own retry layer (LANGUAGE.md §8), plain numbers
      under `count`, `delay`, `backoff`, `max_delay`; workflow and task `retry` override
      it field by field.
    - `input_schema`: a JSON Schema the rendered input must satisfy before the handler
      runs (draft 2020-12 unless it says otherwise with `$schema`).
    - `heartbeat_timeout`: seconds; when set, the host fails an attempt whose handler
      has not called `context.heartbeat` for that long.
    - `secret_input`, `secret_result`: dotted paths (`headers.Authorization`; keys match
      without regard to case) of input and result fields that hold secrets: their values
      are masked in the run's trace, status, errors and logs from then on.
    """

    name: str
    handler: Handler
    placement: Placement = Placement.ACTIVITY
    description: str = ""
    retry_defaults: Mapping[str, float] | None = None
    input_schema: Mapping[str, Any] | None = None
    heartbeat_timeout: float | None = None
    secret_input: tuple[str, ...] = ()
    secret_result: tuple[str, ...] = ()
    _validator: jsonschema.protocols.Validator | None = field(
        init=False, default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not callable(self.handler):
            raise TypeError(f"action {self.name!r}: handler must be callable")
        _check_arity(self.name, self.handler)
        if not isinstance(self.placement, Placement):
            raise TypeError(
                f"action {self.name!r}: placement must be a Placement, got {self.placement!r}"
            )
        if self.retry_defaults is not None:
            frozen = MappingProxyType(_checked_retry_defaults(self.name, self.retry_defaults))
            object.__setattr__(self, "retry_defaults", frozen)
        if self.heartbeat_timeout is not None and not (
            _is_number(self.heartbeat_timeout) and self.heartbeat_timeout > 0
        ):
            raise ValueError(f"action {self.name!r}: heartbeat_timeout must be a positive number")
        if self.input_schema is not None:
            object.__setattr__(self, "_validator", _validator_for(self.name, self.input_schema))
        for paths in (self.secret_input, self.secret_result):
            if isinstance(paths, str) or not all(
                isinstance(path, str) and path and all(path.split(".")) for path in paths
            ):
                raise ValueError(
                    f"action {self.name!r}: secret fields must be a tuple of dotted paths, "
                    f"got {paths!r}"
                )

    def secret_values(self, value: Any, *, result: bool = False) -> list[str]:
        """The texts held by the declared secret fields of an input (or a result)."""
        found: list[str] = []
        for path in self.secret_result if result else self.secret_input:
            found.extend(secret_values(_field_at(value, path.split("."))))
        return found

    @property
    def is_async(self) -> bool:
        """True when the handler is an `async def` (or an object with one as `__call__`)."""
        handler = self.handler
        return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - callable objects, not callability
        )

    def input_violations(self, value: Any) -> list[str]:
        """Every way `value` breaks `input_schema`, as `path: reason` lines (empty if none)."""
        if self._validator is None:
            return []
        errors = sorted(self._validator.iter_errors(value), key=_path_key)
        lines = [_violation(error) for error in errors[:_MAX_VIOLATIONS]]
        if len(errors) > _MAX_VIOLATIONS:
            lines.append(f"... and {len(errors) - _MAX_VIOLATIONS} more")
        return lines


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _checked_retry_defaults(name: str, raw: Mapping[str, Any]) -> dict[str, float]:
    unknown = sorted(set(raw) - set(RETRY_FIELDS))
    if unknown:
        raise ValueError(
            f"action {name!r}: retry_defaults has unknown keys {unknown}; "
            f"allowed: {', '.join(RETRY_FIELDS)}"
        )
    checked: dict[str, float] = {}
    for key in RETRY_FIELDS:
        if key not in raw:
            continue
        value = raw[key]
        if not _is_number(value) or value < 0:
            raise ValueError(f"action {name!r}: retry_defaults.{key} must be a number >= 0")
        if key == "count" and value != int(value):
            raise ValueError(f"action {name!r}: retry_defaults.count must be a whole number")
        if key == "backoff" and value < 1:
            raise ValueError(f"action {name!r}: retry_defaults.backoff must be >= 1")
        checked[key] = int(value) if key == "count" else value
    return checked


def _field_at(value: Any, steps: list[str]) -> Any:
    for step in steps:
        if not isinstance(value, Mapping):
            return None
        if step in value:
            value = value[step]
            continue
        folded = step.casefold()
        value = next((item for key, item in value.items() if str(key).casefold() == folded), None)
    return value


def _check_arity(name: str, handler: Callable[..., Any]) -> None:
    """Refuse handlers that cannot be called as `handler(input, context)`."""
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # some builtins have no signature: trust them
        return
    try:
        signature.bind(None, None)
    except TypeError:
        raise TypeError(
            f"action {name!r}: handler {signature} must accept two positional arguments "
            "(input, context)"
        ) from None


def _validator_for(name: str, schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    cls = validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        raise ValueError(
            f"action {name!r}: input_schema is not a valid JSON Schema: {exc.message}"
        ) from None
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _path_key(error: jsonschema.ValidationError) -> list[tuple[int, int | str]]:
    # Index and key steps never meet at one position, but keep the key total anyway.
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path]


def _violation(error: jsonschema.ValidationError) -> str:
    path = "input"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    message = error.message
    if len(message) > _MAX_VIOLATION_CHARS:
        message = message[: _MAX_VIOLATION_CHARS - 3] + "..."
    return f"{path}: {message}"
