"""Webhooks, their replay guard, and event rules (migration 0008): how runs start from
signed HTTP deliveries and from events. The API checks signatures and evaluates the
expressions; this module only keeps the rows."""

from __future__ import annotations

from datetime import datetime

import msgspec

from engine.store._db import StorePool, fetch_all, fetch_one, fetch_value

WEBHOOK_COLUMNS = """id, workflow_name, name, secret, input_mapping, tolerance_seconds,
    max_body_bytes, created_at"""
INSERT_WEBHOOK = f"""
INSERT INTO webhooks (id, workflow_name, name, secret, input_mapping, tolerance_seconds,
    max_body_bytes)
VALUES (%(id)s, %(workflow_name)s, %(name)s, %(secret)s, %(input_mapping)s,
    %(tolerance_seconds)s, %(max_body_bytes)s)
ON CONFLICT (workflow_name, name) DO NOTHING
RETURNING {WEBHOOK_COLUMNS}
"""
SELECT_WEBHOOK = f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = %s"
SELECT_WEBHOOKS = f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workflow_name = %s ORDER BY name"
DELETE_WEBHOOK = "DELETE FROM webhooks WHERE workflow_name = %s AND name = %s RETURNING id"
# The replay guard: a delivery is new when its signature was not seen in the window.
REMEMBER_DELIVERY = """
INSERT INTO webhook_deliveries (webhook_id, signature, expires_at)
VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING true
"""
SELECT_DELIVERY_RUN = (
    "SELECT run_id FROM webhook_deliveries WHERE webhook_id = %s AND signature = %s"
)
SET_DELIVERY_RUN = (
    "UPDATE webhook_deliveries SET run_id = %s WHERE webhook_id = %s AND signature = %s"
)
FORGET_DELIVERY = "DELETE FROM webhook_deliveries WHERE webhook_id = %s AND signature = %s"
# Bounded per call: pruning rides on deliveries and never makes one slow.
PRUNE_DELIVERIES = """
DELETE FROM webhook_deliveries WHERE ctid IN (
    SELECT ctid FROM webhook_deliveries WHERE expires_at < now() LIMIT 500)
"""

RULE_COLUMNS = "name, event_name, workflow_name, criteria, input_mapping, created_at"
UPSERT_RULE = f"""
INSERT INTO event_rules (name, event_name, workflow_name, criteria, input_mapping)
VALUES (%(name)s, %(event_name)s, %(workflow_name)s, %(criteria)s, %(input_mapping)s)
ON CONFLICT (name) DO UPDATE SET event_name = EXCLUDED.event_name,
    workflow_name = EXCLUDED.workflow_name, criteria = EXCLUDED.criteria,
    input_mapping = EXCLUDED.input_mapping
RETURNING {RULE_COLUMNS}
"""
SELECT_RULES = f"SELECT {RULE_COLUMNS} FROM event_rules ORDER BY name"
SELECT_RULES_FOR_EVENT = (
    f"SELECT {RULE_COLUMNS} FROM event_rules WHERE event_name = %s ORDER BY name"
)
SELECT_RULE = f"SELECT {RULE_COLUMNS} FROM event_rules WHERE name = %s"
DELETE_RULE = "DELETE FROM event_rules WHERE name = %s RETURNING name"


class Webhook(msgspec.Struct, frozen=True):
    id: str
    workflow_name: str
    name: str
    secret: str
    input_mapping: str | None
    tolerance_seconds: int
    max_body_bytes: int
    created_at: datetime


class EventRule(msgspec.Struct, frozen=True):
    name: str
    event_name: str
    workflow_name: str
    criteria: str | None
    input_mapping: str | None
    created_at: datetime


async def create_webhook(
    pool: StorePool,
    *,
    id: str,
    workflow_name: str,
    name: str,
    secret: str,
    input_mapping: str | None,
    tolerance_seconds: int,
    max_body_bytes: int,
) -> Webhook | None:
    """The new webhook, or None when the workflow already has one of that name."""
    params = {
        "id": id,
        "workflow_name": workflow_name,
        "name": name,
        "secret": secret,
        "input_mapping": input_mapping,
        "tolerance_seconds": tolerance_seconds,
        "max_body_bytes": max_body_bytes,
    }
    async with pool.connection() as conn:
        return await fetch_one(conn, Webhook, INSERT_WEBHOOK, params)


async def get_webhook(pool: StorePool, hook_id: str) -> Webhook | None:
    async with pool.connection() as conn:
        return await fetch_one(conn, Webhook, SELECT_WEBHOOK, (hook_id,))


async def list_webhooks(pool: StorePool, workflow: str) -> list[Webhook]:
    async with pool.connection() as conn:
        return await fetch_all(conn, Webhook, SELECT_WEBHOOKS, (workflow,))


async def delete_webhook(pool: StorePool, workflow: str, name: str) -> bool:
    async with pool.connection() as conn:
        return await fetch_value(conn, DELETE_WEBHOOK, (workflow, name)) is not None


async def remember_delivery(
    pool: StorePool, hook_id: str, signature: str, expires_at: datetime
) -> bool:
    """Record a delivery; False when the same signature was already seen (a replay)."""
    async with pool.connection() as conn:
        await conn.execute(PRUNE_DELIVERIES)
        return bool(await fetch_value(conn, REMEMBER_DELIVERY, (hook_id, signature, expires_at)))


async def delivery_run(pool: StorePool, hook_id: str, signature: str) -> str | None:
    async with pool.connection() as conn:
        found: str | None = await fetch_value(conn, SELECT_DELIVERY_RUN, (hook_id, signature))
        return found


async def set_delivery_run(pool: StorePool, hook_id: str, signature: str, run_id: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(SET_DELIVERY_RUN, (run_id, hook_id, signature))


async def forget_delivery(pool: StorePool, hook_id: str, signature: str) -> None:
    """Let a delivery be sent again: its run could not be started."""
    async with pool.connection() as conn:
        await conn.execute(FORGET_DELIVERY, (hook_id, signature))


async def put_rule(
    pool: StorePool,
    *,
    name: str,
    event_name: str,
    workflow_name: str,
    criteria: str | None,
    input_mapping: str | None,
) -> EventRule:
    """Create or replace a rule."""
    params = {
        "name": name,
        "event_name": event_name,
        "workflow_name": workflow_name,
        "criteria": criteria,
        "input_mapping": input_mapping,
    }
    async with pool.connection() as conn:
        saved = await fetch_one(conn, EventRule, UPSERT_RULE, params)
    assert saved is not None
    return saved


async def list_rules(pool: StorePool, event: str | None = None) -> list[EventRule]:
    async with pool.connection() as conn:
        if event is None:
            return await fetch_all(conn, EventRule, SELECT_RULES)
        return await fetch_all(conn, EventRule, SELECT_RULES_FOR_EVENT, (event,))


async def get_rule(pool: StorePool, name: str) -> EventRule | None:
    async with pool.connection() as conn:
        return await fetch_one(conn, EventRule, SELECT_RULE, (name,))


async def delete_rule(pool: StorePool, name: str) -> bool:
    async with pool.connection() as conn:
        return await fetch_value(conn, DELETE_RULE, (name,)) is not None
