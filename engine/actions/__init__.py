"""The action catalog: the plugin API, the built-in actions, and `invoke`.

Free of Temporal: the Temporal binding adapts `ActionContext` to activity heartbeats
and calls `invoke` inside an activity.
"""

from engine.action_names import ENTRY_POINT_GROUP
from engine.actions.api import (
    ACTION_NAME,
    ActionContext,
    ActionDefinition,
    ActionError,
    Handler,
    Heartbeat,
    Placement,
)
from engine.actions.catalog import ActionCatalog
from engine.actions.invoke import invoke, invoke_inline
from engine.actions.json_values import to_json_value
from engine.actions.reporting import NO_REPORTER, TaskReporter

__all__ = [
    "ACTION_NAME",
    "ENTRY_POINT_GROUP",
    "NO_REPORTER",
    "ActionCatalog",
    "ActionContext",
    "ActionDefinition",
    "ActionError",
    "Handler",
    "Heartbeat",
    "Placement",
    "TaskReporter",
    "invoke",
    "invoke_inline",
    "to_json_value",
]
