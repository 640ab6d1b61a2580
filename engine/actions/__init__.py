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
    Progress,
)
from engine.actions.catalog import ActionCatalog
from engine.actions.invoke import invoke, invoke_inline, to_json_value

__all__ = [
    "ACTION_NAME",
    "ENTRY_POINT_GROUP",
    "ActionCatalog",
    "ActionContext",
    "ActionDefinition",
    "ActionError",
    "Handler",
    "Heartbeat",
    "Placement",
    "Progress",
    "invoke",
    "invoke_inline",
    "to_json_value",
]
