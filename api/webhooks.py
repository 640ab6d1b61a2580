"""Signed webhooks: `POST /hooks/{id}` starts a run of the hook's workflow when the
delivery proves it knows the hook's secret, is recent, and was not seen before.

Signature: `Segue-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`
with `Segue-Timestamp: <Unix seconds>`. Checked in this order, each refusal its own
problem code: the hook exists, the body fits, both headers are there and well formed,
the signature matches (constant time), the timestamp is within the hook's tolerance
(either side of now), and the signature is new (the replay guard in PostgreSQL keeps
every signature until its timestamp could no longer pass). The signature is checked
before the timestamp so that a sender without the secret learns nothing else."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from api.mapping import as_input, compiled
from api.problems import ApiProblem, conflict, not_found
from api.runs import require_version, start_new_run
from api.services import Services
from engine.expressions import ExpressionError
from engine.store import RunRecord
from engine.store import admission as store

SIGNATURE_HEADER: Final = "segue-signature"
TIMESTAMP_HEADER: Final = "segue-timestamp"
SIGNATURE_PREFIX: Final = "sha256="
_HEX_DIGEST_CHARS: Final = 64


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `Segue-Signature` value of a delivery (what a sender computes)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def new_hook_id() -> str:
    return secrets.token_urlsafe(18)  # 24 characters: unguessable, not a secret


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def verified_signature(
    hook: store.Webhook, headers: Mapping[str, str], body: bytes, now: datetime
) -> str:
    """The delivery's signature (hex) once every check passed; the refusal otherwise."""
    if len(body) > hook.max_body_bytes:
        raise ApiProblem(
            413,
            "WEBHOOK_BODY_TOO_LARGE",
            f"the body has {len(body)} bytes; this webhook takes at most {hook.max_body_bytes}",
        )
    signature = headers.get(SIGNATURE_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not signature or not timestamp:
        raise ApiProblem(
            401,
            "WEBHOOK_SIGNATURE_MISSING",
            "a delivery needs Segue-Timestamp (Unix seconds) and Segue-Signature "
            "(sha256=<hex HMAC-SHA256 of '<timestamp>.' + body>)",
        )
    hex_part = signature.removeprefix(SIGNATURE_PREFIX)
    if not signature.startswith(SIGNATURE_PREFIX) or len(hex_part) != _HEX_DIGEST_CHARS:
        raise ApiProblem(
            401, "WEBHOOK_SIGNATURE_INVALID", "Segue-Signature must be sha256=<64 hex digits>"
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise ApiProblem(
            401, "WEBHOOK_TIMESTAMP_INVALID", "Segue-Timestamp must be Unix seconds (digits)"
        )
    expected = sign(hook.secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise ApiProblem(
            401, "WEBHOOK_SIGNATURE_INVALID", "the signature does not match this webhook's secret"
        )
    skew = abs(now.timestamp() - int(timestamp))
    if skew > hook.tolerance_seconds:
        raise ApiProblem(
            401,
            "WEBHOOK_TIMESTAMP_EXPIRED",
            f"the timestamp is {int(skew)} s away from now; this webhook accepts "
            f"{hook.tolerance_seconds} s either way",
            extra={"toleranceSeconds": hook.tolerance_seconds},
        )
    return hex_part.lower()


async def deliver(
    services: Services, hook_id: str, headers: Mapping[str, str], body: bytes
) -> tuple[RunRecord, str]:
    """Verify a delivery and start its run: (the run, the signature it was sent with)."""
    hook = await store.get_webhook(services.pool, hook_id)
    if hook is None:
        raise not_found("WEBHOOK_NOT_FOUND", "no such webhook")
    now = datetime.now(UTC)
    signature = verified_signature(hook, headers, body, now)
    payload = _payload(body)
    # Mapped before the delivery is remembered: a payload the mapping refuses may be
    # corrected and sent again with a new timestamp, or fixed on the hook and resent.
    run_input = _mapped(hook, payload, signature)
    version = await require_version(services, hook.workflow_name)
    # Kept until a replay's timestamp could no longer pass, whichever side of now.
    expires = now + timedelta(seconds=2 * hook.tolerance_seconds)
    if not await store.remember_delivery(services.pool, hook.id, signature, expires):
        earlier = await store.delivery_run(services.pool, hook.id, signature)
        raise conflict(
            "WEBHOOK_REPLAYED",
            "this delivery (its signature) was already received; sign each delivery anew",
            **({"runId": earlier} if earlier else {}),
        )
    try:
        record, _ = await start_new_run(
            services,
            version,
            run_input,
            idempotency_key=f"webhook:{hook.id}:{signature[:40]}",
            fingerprint=signature,
        )
    except BaseException:
        # Nothing started: the sender may retry the same delivery.
        await store.forget_delivery(services.pool, hook.id, signature)
        raise
    await store.set_delivery_run(services.pool, hook.id, signature, record.run_id)
    return record, signature


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body) if body else None
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        raise ApiProblem(400, "WEBHOOK_PAYLOAD_INVALID", "the body must be a JSON object")
    return payload


def _mapped(hook: store.Webhook, payload: dict[str, Any], signature: str) -> dict[str, Any]:
    if hook.input_mapping is None:
        return payload
    expression = compiled(hook.input_mapping, "input")
    try:
        value = as_input(expression.evaluate(payload, f"webhook:{hook.id}:{signature}"))
    except ExpressionError as error:
        raise ApiProblem(
            422, "WEBHOOK_MAPPING_FAILED", f"the input mapping failed: {error.message}"
        ) from None
    if value is None:
        raise ApiProblem(
            422,
            "WEBHOOK_MAPPING_FAILED",
            "the input mapping must give a JSON object for this payload",
        )
    return value
