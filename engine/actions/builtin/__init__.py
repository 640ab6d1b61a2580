"""The actions every Segue worker has: `core.*`, `http.request`, `shell.run`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from engine.actions.api import ActionDefinition, Placement
from engine.actions.builtin.core import HOST_FORMS, WAITS, core_actions
from engine.actions.builtin.http import http_actions
from engine.actions.builtin.shell import shell_actions


def builtin_actions(*, allow_shell: bool = False) -> tuple[ActionDefinition, ...]:
    """Every built-in definition; `shell.run` refuses to run unless `allow_shell`."""
    return (*core_actions(), *http_actions(), *shell_actions(allow_shell))


@cache
def workflow_actions() -> Mapping[str, ActionDefinition]:
    """The built-ins placed in the workflow, by name: every action that is, since the
    catalog refuses a plugin that asks. The same on every worker, whatever its options,
    so replays never depend on a worker's configuration."""
    return MappingProxyType(
        {d.name: d for d in builtin_actions() if d.placement is Placement.WORKFLOW}
    )


__all__ = ["HOST_FORMS", "WAITS", "builtin_actions", "workflow_actions"]
