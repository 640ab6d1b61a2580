"""Correlated ingress (`POST /events`): an event reaches every run waiting for it (see
`api.correlation` for the key)."""

from __future__ import annotations

import asyncio
from typing import Final

from api.problems import ApiProblem, temporal_problem
from api.services import Services
from api.wire import IngressEvent, IngressResult
from engine.store import Wait, find_waiting, record_event, set_event_matches
from engine.temporal.client import ExecutionNotFound, TemporalClientError, deliver
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
    waits = await find_waiting(services.pool, event.event, key)
    outcomes = await asyncio.gather(
        *(_signal(services, wait, event) for wait in waits), return_exceptions=True
    )
    matched = list(
        dict.fromkeys(wait.run_id for wait, ok in zip(waits, outcomes, strict=True) if ok is True)
    )
    if matched:
        await set_event_matches(services.pool, recorded.id, len(matched))
    for outcome in outcomes:
        if isinstance(outcome, TemporalClientError):
            raise temporal_problem(outcome, eventId=recorded.id, matchedRuns=matched)
        if isinstance(outcome, BaseException):
            raise outcome
    return IngressResult(event_id=recorded.id, correlation_key=key, matched_runs=matched)


async def _signal(services: Services, wait: Wait, event: IngressEvent) -> bool:
    """Deliver the event to one wait; False if its run has ended meanwhile."""
    signal = SignalPayload(
        payload=event.payload,
        task=wait.task,
        event=wait.event_name,
        correlation_key=wait.correlation_key,
        execution=wait.execution,
        item=wait.item,
    )
    try:
        await deliver(services.temporal, wait.run_id, signal, timeout=services.temporal_timeout)
    except ExecutionNotFound:
        return False
    return True
