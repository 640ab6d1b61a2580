"""The names of the installed actions, for checking workflows without loading actions.

`segue validate` only asks whether a name exists and which names are close. Loading
the catalog (engine.actions) imports every action's code: httpx and asyncio for
`http.request`, and each action's input schema is checked. With no plugin installed,
the catalog is exactly the built-ins, whose names are listed here; with plugins, their
names are known only by loading them, so the whole catalog is loaded, as before.
`tests/actions/test_action_names.py` keeps this list equal to the built-ins.

Imports nothing of engine.actions: that package's `__init__` loads the catalog.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.machinery import PathFinder
from typing import Final

from engine.language.deployment import ActionNames
from engine.language.wording import nearest

ENTRY_POINT_GROUP: Final = "segue.actions"
BUILTIN_ACTION_NAMES: Final = frozenset(
    {
        "core.approval",
        "core.echo",
        "core.fail",
        "core.noop",
        "core.sleep",
        "core.wait_event",
        "http.request",
        "shell.run",  # in every catalog; it refuses to run unless the worker allows it
    }
)
# The built-ins the workflow carries out itself (Placement.WORKFLOW): a task's `run:`
# cannot move them.
BUILTIN_WORKFLOW_ACTIONS: Final = frozenset(
    name for name in BUILTIN_ACTION_NAMES if name.startswith("core.")
)


def suggest_action(name: str, known: list[str], limit: int = 3) -> list[str]:
    """Names in `known` close to `name` (typos, or a name missing its pack prefix)."""
    suffix_matches = [
        candidate
        for candidate in known
        if candidate.endswith("." + name) or candidate.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]
    ]
    close = nearest(name, known, limit=limit, cutoff=0.75)
    return list(dict.fromkeys([*close, *suffix_matches]))[:limit]


@dataclass(frozen=True, slots=True)
class KnownActions:
    """A set of action names, answering as the catalog does."""

    names: frozenset[str]

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        return suggest_action(name, sorted(self.names), limit)

    def runs_in_workflow(self, name: str) -> bool:
        return name in BUILTIN_WORKFLOW_ACTIONS


def installed_action_names() -> tuple[ActionNames, list[str]]:
    """The names a worker here would know, and the problems of plugins that failed to
    load (as `ActionCatalog.from_environment` reports them)."""
    if not _may_have_plugins():
        return KnownActions(BUILTIN_ACTION_NAMES), []
    from engine.actions.catalog import ActionCatalog

    catalog = ActionCatalog.from_environment()
    return catalog, list(catalog.problems)


def _may_have_plugins() -> bool:
    """False only when no installed distribution can declare a `segue.actions` entry
    point; True when one does, or when this cannot be told cheaply.

    importlib.metadata finds distributions as `*.dist-info` and `*.egg-info`
    directories in the directories of sys.path, and their entry points in
    `entry_points.txt`; this looks at exactly those files, without importing it (~18 ms
    of a ~200 ms `segue validate`). Anything else it could read (a zip or an .egg on
    sys.path, another distribution finder) means: load the catalog."""
    finders = [finder for finder in sys.meta_path if hasattr(finder, "find_distributions")]
    if any(finder is not PathFinder for finder in finders):
        return True
    marker = f"[{ENTRY_POINT_GROUP}]"
    for entry in sys.path:
        directory = entry or "."
        if not os.path.isdir(directory):
            if os.path.exists(directory) or directory.lower().endswith(".egg"):
                return True  # a zip file or an egg: only importlib.metadata reads those
            continue  # not there: importlib.metadata finds nothing in it either
        if directory.lower().endswith(".egg"):
            return True
        for info in _metadata_dirs(directory):
            try:
                with open(os.path.join(info, "entry_points.txt"), encoding="utf-8") as file:
                    if marker in file.read():
                        return True
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError):
                return True
    return False


def _metadata_dirs(directory: str) -> Iterator[str]:
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.lower().endswith((".dist-info", ".egg-info")) and entry.is_dir():
                    yield entry.path
    except OSError:
        return
