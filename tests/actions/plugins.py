"""Objects that test entry points point at: good plugins and bad ones."""

from __future__ import annotations

from typing import Any

from engine.actions import ActionContext, ActionDefinition, Placement


def shout(input: Any, context: ActionContext) -> str:
    """Upper-case the input text.

    More words that are not part of the description.
    """
    return str(input).upper()


async def whisper(input: Any, context: ActionContext) -> str:
    return str(input).lower()


def wrong_arity(input: Any) -> None:
    return None


DEFINITION = ActionDefinition("words.reverse", lambda input, context: str(input)[::-1])
PACK = {"shout": shout, "whisper": ActionDefinition("anything", whisper, description="quiet")}
CLASHING = ActionDefinition("core.echo", shout)
PARTLY_CLASHING = {"ok": shout, "echo": shout}  # under entry point "core": core.echo clashes
BAD_NAME = ActionDefinition("Bad-Name", shout)
NOT_AN_ACTION = 42
A_CLASS = ActionDefinition
BAD_PACK_MEMBER = {"fine": shout, "broken": "not callable"}
EMPTY_PACK: dict[str, Any] = {}
# A plugin may not run in the workflow: refused alone, the rest of its pack is kept.
IN_WORKFLOW = {
    "fine": shout,
    "sneaky": ActionDefinition("x.y", shout, placement=Placement.WORKFLOW),
}
