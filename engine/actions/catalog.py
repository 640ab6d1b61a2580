"""The action catalog: built-ins plus the plugins installed under entry-point group
`segue.actions`. A broken plugin is recorded in `problems` and skipped; it never stops
the worker from starting."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from importlib import metadata
from typing import Any, Final

from engine.action_names import ENTRY_POINT_GROUP, suggest_action
from engine.actions.api import ACTION_NAME, ActionDefinition, Placement
from engine.actions.builtin import builtin_actions

BUILTIN_SOURCE: Final = "built-in"

_log = logging.getLogger(__name__)


class ActionCatalog:
    """Every action a worker can run, by name."""

    def __init__(self, definitions: Iterable[ActionDefinition] = ()) -> None:
        """A catalog of exactly these definitions; an invalid or repeated name raises."""
        self._actions: dict[str, ActionDefinition] = {}
        self._sources: dict[str, str] = {}
        self.problems: list[str] = []
        for definition in definitions:
            problem = self._admit(definition, BUILTIN_SOURCE)
            if problem:
                raise ValueError(problem)

    @classmethod
    def builtin(cls, *, allow_shell: bool = False) -> ActionCatalog:
        """The built-in actions only."""
        return cls(builtin_actions(allow_shell=allow_shell))

    @classmethod
    def from_environment(
        cls,
        *,
        allow_shell: bool = False,
        entry_points: Iterable[metadata.EntryPoint] | None = None,
    ) -> ActionCatalog:
        """The built-ins plus every `segue.actions` entry point (installed ones by default)."""
        catalog = cls.builtin(allow_shell=allow_shell)
        if entry_points is None:
            found = metadata.entry_points(group=ENTRY_POINT_GROUP)
            entry_points = sorted(found, key=lambda ep: (ep.name, ep.value))
        for entry_point in entry_points:
            catalog._load(entry_point)
        for problem in catalog.problems:
            _log.warning("action catalog: %s", problem)
        return catalog

    # ------------------------------------------------------------------ queries

    def get(self, name: str) -> ActionDefinition | None:
        """The action called `name`, or None."""
        return self._actions.get(name)

    def names(self) -> list[str]:
        """Every action name, sorted."""
        return sorted(self._actions)

    def source(self, name: str) -> str | None:
        """Where an action came from: `built-in` or the entry point that provided it."""
        return self._sources.get(name)

    def retry_defaults(self) -> dict[str, dict[str, float]]:
        """Action name -> its own retry layer (LANGUAGE.md §8), for actions that have one."""
        return {
            name: dict(definition.retry_defaults)
            for name, definition in sorted(self._actions.items())
            if definition.retry_defaults
        }

    def local_actions(self) -> list[str]:
        """The actions declared to run as local activities, by name (a run's start input
        carries them, as it carries the retry defaults)."""
        return [
            name
            for name, definition in sorted(self._actions.items())
            if definition.placement is Placement.LOCAL_ACTIVITY
        ]

    def secret_inputs(self) -> dict[str, tuple[str, ...]]:
        """Action name -> the dotted paths of its declared secret input fields, for the
        actions that declare some (the trace masks them in a shown rendered input)."""
        return {
            name: tuple(definition.secret_input)
            for name, definition in sorted(self._actions.items())
            if definition.secret_input
        }

    def runs_in_workflow(self, name: str) -> bool:
        """Whether the action is carried out by the workflow itself (it cannot be moved)."""
        return self.placement(name) is Placement.WORKFLOW

    def placement(self, name: str) -> Placement | None:
        """Where the Temporal binding runs the action called `name`, or None if unknown."""
        definition = self._actions.get(name)
        return None if definition is None else definition.placement

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Known names close to `name` (typos, or a name missing its pack prefix)."""
        return suggest_action(name, self.names(), limit)

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def __iter__(self) -> Iterator[ActionDefinition]:
        return (self._actions[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._actions)

    # ------------------------------------------------------------------ loading

    def _admit(self, definition: ActionDefinition, source: str) -> str | None:
        """Add one definition; a problem message instead when it cannot be added."""
        name = definition.name
        if not isinstance(name, str) or not ACTION_NAME.match(name):
            return (
                f"{source}: action name {name!r} is invalid; names are dotted lower-case "
                "identifiers with a pack prefix, like `mypack.do_thing`"
            )
        if name in self._actions:
            return f"{source}: action {name!r} is already provided by {self._sources[name]}"
        if definition.placement is Placement.WORKFLOW and source != BUILTIN_SOURCE:
            # The workflow runs only code whose every step replays identically; a plugin
            # cannot promise that, so it runs as an activity or not at all.
            return (
                f"{source}: action {name!r} declares placement "
                f"{definition.placement.value!r}; only Segue's built-in actions run in the "
                "workflow; plugins run as activities or local activities"
            )
        self._actions[name] = definition
        self._sources[name] = source
        return None

    def _load(self, entry_point: metadata.EntryPoint) -> None:
        source = _describe(entry_point)
        try:
            loaded = entry_point.load()
        except (Exception, SystemExit) as exc:
            self.problems.append(f"{source}: could not be loaded: {type(exc).__name__}: {exc}")
            return
        try:
            definitions = _definitions(entry_point.name, loaded)
        except (TypeError, ValueError) as exc:
            self.problems.append(f"{source}: {exc}")
            return
        for definition in definitions:
            problem = self._admit(definition, source)
            if problem:
                self.problems.append(problem)


def _definitions(entry_point_name: str, loaded: Any) -> list[ActionDefinition]:
    """What an entry point's object provides: one definition, a callable, or a pack."""
    if isinstance(loaded, ActionDefinition):
        return [loaded]
    if isinstance(loaded, Mapping):
        if not loaded:
            raise ValueError("the pack is empty: it provides no actions")
        pack: list[ActionDefinition] = []
        for key, member in loaded.items():
            if not isinstance(key, str):
                raise TypeError(f"pack keys must be strings, got {key!r}")
            pack.append(_one(f"{entry_point_name}.{key}", member))
        return pack
    return [_one(entry_point_name, loaded)]


def _one(name: str, member: Any) -> ActionDefinition:
    if isinstance(member, ActionDefinition):
        return replace(member, name=name)
    if callable(member) and not isinstance(member, type):
        doc = inspect.getdoc(member) or ""
        return ActionDefinition(name, member, description=doc.split("\n", 1)[0])
    kind = f"the class {member.__name__}" if isinstance(member, type) else type(member).__name__
    raise TypeError(
        f"{name!r} is {kind}; expected an ActionDefinition, a handler function, or a dict of them"
    )


def _describe(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    origin = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point {entry_point.name!r} ({entry_point.value}){origin}"
