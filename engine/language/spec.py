"""The frozen, compiled form of a workflow file: what the graph and coordinator run.

Built once per workflow version by `engine.language.loader.load_workflow`; every
expression in it is already compiled. Nothing here changes while runs execute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from typing import Literal as TypingLiteral

from engine.diagnostics import Position
from engine.expressions import Condition, Template
from engine.expressions.template import Literal

ENGINE_COMMANDS: Final = frozenset({"continue", "fail", "noop", "retry"})
RESERVED_NAMES: Final = ENGINE_COMMANDS
DEFAULT_MAX_ITERATIONS: Final = 1000
# Retries that `do: retry` grants, and its delay (LANGUAGE.md §4).
RETRY_COMMAND_COUNT: Final = 3

JoinSpec = int | TypingLiteral["all"]
# Where a task runs its action instead of the action's declared placement
# (docs/actions.md): a local activity, or an activity.
TaskRun = TypingLiteral["local", "activity"]


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    """One entry of a task's `next`."""

    index: int
    when: Condition | None  # None: taken on any completion
    publish: tuple[tuple[str, Template], ...]
    do: tuple[str, ...]  # task names and engine commands, in order; () means continue
    position: Position | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        """The task names among `do` (engine commands removed)."""
        return tuple(name for name in self.do if name not in ENGINE_COMMANDS)

    @property
    def commands(self) -> frozenset[str]:
        return frozenset(name for name in self.do if name in ENGINE_COMMANDS)


@dataclass(frozen=True, slots=True)
class RetrySpec:
    """A retry layer; None fields are not set at this layer and inherit (LANGUAGE.md §8)."""

    count: Template | None = None
    delay: Template | None = None
    backoff: Template | None = None
    max_delay: Template | None = None
    when: Condition | None = None
    position: Position | None = None

    @classmethod
    def from_numbers(cls, numbers: Mapping[str, float]) -> RetrySpec:
        """A layer of plain numbers (an action's own retry defaults)."""

        def layer(key: str) -> Template | None:
            return Literal(numbers[key]) if key in numbers else None

        return cls(
            count=layer("count"),
            delay=layer("delay"),
            backoff=layer("backoff"),
            max_delay=layer("max_delay"),
        )


@dataclass(frozen=True, slots=True)
class WithItemsSpec:
    items: Template
    concurrency: Template | None = None


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """One entry of `concurrency_limits`: at most `capacity` runs of any workflow that
    declares the limit `name` hold its `key` at once (read by engine/language/
    concurrency_limits.py, acquired by engine/temporal/limits.py). No key: one slot pool
    for the whole name."""

    name: str
    capacity: int
    key: Template | None = None  # over the run's input and vars ($ctx); rendered to text
    strategy: str = "queue"
    priority: int = 0


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    action: Template | None = None
    workflow: Template | None = None
    input: Template | None = None
    next: tuple[TransitionSpec, ...] = ()
    join: JoinSpec | None = None
    with_items: WithItemsSpec | None = None
    retry: RetrySpec | None = None
    timeout: Template | None = None
    delay: Template | None = None
    max_iterations: int | None = None
    run: TaskRun | None = None
    position: Position | None = None
    # `concurrency_limits` on the task: each attempt of its action holds a slot of every
    # one (in name order) while it runs (engine/temporal/task_limits.py).
    limits: tuple[LimitSpec, ...] = ()

    @property
    def is_pass_through(self) -> bool:
        return self.action is None and self.workflow is None


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """One entry of `schedules`: when Segue starts runs by itself (engine/language/
    schedules.py reads it; the API turns it into a Temporal Schedule)."""

    name: str
    cron: tuple[str, ...] = ()
    every: float | None = None  # seconds
    offset: float = 0.0
    timezone: str = "UTC"
    jitter: float = 0.0
    start: str | None = None  # ISO 8601 with a zone
    end: str | None = None
    overlap: str = "skip"
    catchup_window: float = 60.0
    paused: bool = False
    note: str = ""
    input: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    """A whole workflow version, compiled."""

    tasks: dict[str, TaskSpec]  # in file order
    version: int = 1
    name: str | None = None
    description: str | None = None
    input_schema: dict[str, dict[str, Any]] = field(default_factory=dict)
    vars: tuple[tuple[str, Template], ...] = ()
    max_iterations: int | None = None
    timeout: float | None = None
    concurrency: int | None = None
    retry: RetrySpec | None = None
    start: tuple[str, ...] | None = None
    output: Template | None = None
    schedules: tuple[ScheduleSpec, ...] = ()
    limits: tuple[LimitSpec, ...] = ()  # in name order: the order they are acquired in
    source: str = "<workflow>"
    content_hash: str = ""
    secrets: frozenset[str] = frozenset()  # names of the `$secret('name')` calls

    @property
    def secret_inputs(self) -> tuple[str, ...]:
        """The inputs declared `secret: true`, in file order."""
        return tuple(name for name, schema in self.input_schema.items() if schema.get("secret"))

    def cap_for(self, task: str) -> int:
        """The iteration cap of a task (LANGUAGE.md §6)."""
        own = self.tasks[task].max_iterations
        if own is not None:
            return own
        return self.max_iterations if self.max_iterations is not None else DEFAULT_MAX_ITERATIONS
