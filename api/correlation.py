"""Correlation keys of incoming events: the request's `key`, or one derived from the
payload by the JSONata expression configured for the event name (`SEGUE_EVENT_KEYS`,
e.g. `{"order.paid": "order.id"}`); the expression sees the payload as its context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.config import ConfigError
from api.problems import ApiProblem
from engine.expressions import UNDEFINED, CompiledExpression, ExpressionError, Scope


class EventKeyRules:
    """Event name -> compiled expression deriving the correlation key from a payload."""

    def __init__(self, rules: Mapping[str, str]) -> None:
        self._rules: dict[str, CompiledExpression] = {}
        for event, source in rules.items():
            try:
                # The payload is bound as $ctx; the block evaluates the rule in its context.
                self._rules[event] = CompiledExpression(f"$ctx.({source})")
            except ExpressionError as error:
                raise ConfigError(
                    f"SEGUE_EVENT_KEYS[{event!r}]: {error.message} in {source!r}"
                ) from None

    def key_for(self, event: str, payload: Any) -> str | None:
        """The derived key, None when no rule names the event; 422 when it cannot be
        derived (the sender should know rather than have the event go nowhere)."""
        rule = self._rules.get(event)
        if rule is None:
            return None
        if not isinstance(payload, dict):
            raise _unresolved(event, "the payload must be a JSON object to derive a key from")
        try:
            value = rule.evaluate(Scope(ctx=payload, run={}, now_ms=0, seed=f"event:{event}"))
        except ExpressionError as error:
            raise _unresolved(event, error.message) from None
        if value is UNDEFINED or value is None or isinstance(value, (dict, list)):
            raise _unresolved(event, "the key expression gave no single value for this payload")
        # The same spelling as the interpreter gives a wait's key (`str(key)`).
        return str(value)


def _unresolved(event: str, reason: str) -> ApiProblem:
    return ApiProblem(
        422, "EVENT_KEY_UNRESOLVED", f"no correlation key for event {event!r}: {reason}"
    )
