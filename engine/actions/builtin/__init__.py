"""The actions every Segue worker has: `core.*`, `http.request`, `shell.run`."""

from __future__ import annotations

from engine.actions.api import ActionDefinition
from engine.actions.builtin.core import core_actions
from engine.actions.builtin.http import http_actions
from engine.actions.builtin.shell import shell_actions


def builtin_actions(*, allow_shell: bool = False) -> tuple[ActionDefinition, ...]:
    """Every built-in definition; `shell.run` refuses to run unless `allow_shell`."""
    return (*core_actions(), *http_actions(), *shell_actions(allow_shell))


__all__ = ["builtin_actions"]
