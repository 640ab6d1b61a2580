"""Correlated ingress (`POST /events`): an event reaches every run with a live wait that
declared its name and key (see `api.correlation` for the key)."""

from __future__ import annotations

import asyncio
from typing import Final

from api.problems import ApiProblem, temporal_problem
from api.rules import apply_rules
from api.services import Services
from api.wire import IngressEvent, IngressResult
from engine.store import find_waiting, record_event, set_event_matches
from engine.temporal.client import (
    AnswerRefused,
    ExecutionNotFound,
    TemporalClientError,
    deliver_event,
)
from engine.temporal.types import SignalPayload

MAX_EVENT_NAME: Final = 200


async def route_event(services: Services, event: IngressEvent) -> IngressResult:
    """Record the event, then signal every waiting run it matches; the runs reached."""
    if not event.event or len(event.event) > MAX_EVENT_NAME:
        raise ApiProblem(
            400, "INVALID_REQUEST", f"`event` must be 1 to {MAX_EVENT_NAME} characters long"
        )
    key = (
        event.key
        if event.key is not None
        else services.event_keys.key_for(event.event, event.payload)
    )
    # Recorded first: an event is kept even if routing fails half-way (or matches nothing).
    recorded = await record_event(services.pool, event.event, key, event.payload)
    # Only waits that declared a name and a key are reachable: an event without a key
    # reaches nobody. The waits index only names candidates; each run says itself whether
    # a live wait took the event, so `matchedRuns` is what the runs accepted.
    waits = [] if key is None else await find_waiting(services.pool, event.event, key)
    runs = list(dict.fromkeys(wait.run_id for wait in waits))
    offer = SignalPayload(payload=event.payload, event=event.event, correlation_key=key)
    outcomes = await asyncio.gather(
        *(_offer(services, run_id, offer) for run_id in runs), return_exceptions=True
    )
    matched = [run_id for run_id, ok in zip(runs, outcomes, strict=True) if ok is True]
    if matched:
        await set_event_matches(services.pool, recorded.id, len(matched))
    for outcome in outcomes:
        if isinstance(outcome, TemporalClientError):
            raise temporal_problem(outcome, eventId=recorded.id, matchedRuns=matched)
        if isinstance(outcome, BaseException):
            raise outcome
    started = await apply_rules(services, recorded.id, event, key)
    return IngressResult(
        event_id=recorded.id, correlation_key=key, matched_runs=matched, rules=started
    )


async def _offer(services: Services, run_id: str, event: SignalPayload) -> bool:
    """Offer the event to one run; whether a live wait of the run took it."""
    try:
        await deliver_event(services.temporal, run_id, event, timeout=services.temporal_timeout)
    except (AnswerRefused, ExecutionNotFound):
        return False  # no wait of the run takes it (any more), or the run has ended
    return True
