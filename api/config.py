"""The API's configuration, from the environment (ARCHITECTURE.md "Configuration")."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from api.sessions import DEFAULT_SESSION_SECONDS, MAX_SESSION_SECONDS, MIN_SESSION_SECONDS
from engine.temporal.types import DEFAULT_TASK_QUEUE

if TYPE_CHECKING:
    from engine.temporal.claim_check import ClaimSettings
    from engine.temporal.codec import CodecKeys

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/segue"
DEFAULT_TEMPORAL_ADDRESS = "127.0.0.1:7233"
MIB = 1024 * 1024
DEFAULT_RECONCILE_SECONDS = 30.0
MAX_RECONCILE_SECONDS = 86400.0
# A bearer token must be hard to guess: 32 bytes, e.g. `secrets.token_urlsafe(32)`.
MIN_TOKEN_BYTES = 32


class ConfigError(ValueError):
    """The configuration cannot work (e.g. no token and auth not explicitly disabled)."""


@dataclass(frozen=True)
class ApiConfig:
    """Everything the API process needs to know; `from_env` reads the `SEGUE_*` variables."""

    database_url: str = DEFAULT_DATABASE_URL
    temporal_address: str = DEFAULT_TEMPORAL_ADDRESS
    temporal_namespace: str = "default"
    task_queue: str = DEFAULT_TASK_QUEUE
    tokens: tuple[str, ...] = ()
    # Only `segue dev` (and `segue api --insecure-dev` on loopback) may turn auth off.
    auth_disabled: bool = False
    max_body_bytes: int = MIB
    # Event name -> JSONata expression that derives the correlation key from the payload.
    event_keys: Mapping[str, str] = field(default_factory=dict)
    sse_poll_seconds: float = 0.5  # when LISTEN/NOTIFY is unavailable
    sse_keepalive_seconds: float = 15.0
    temporal_timeout_seconds: float = 10.0  # per call to the Temporal frontend
    query_timeout_seconds: float = 1.0  # live progress query (needs a worker to answer)
    store_timeout_seconds: float = 5.0  # waiting for a pooled database connection
    pool_max_size: int = 10
    # Host names the API answers to (`*.example.com` patterns; `*` any). Empty: any when a
    # token protects the API, loopback names when auth is off (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    # Origins (scheme://host[:port]) besides the API's own that may send state changes.
    allowed_origins: tuple[str, ...] = ()
    sse_max_streams: int = 256  # live streams per API process
    sse_max_streams_per_client: int = 16  # per client address
    sse_idle_check_seconds: float = 5.0  # first pause between "has the run ended?" checks
    sse_idle_check_max_seconds: float = 60.0  # the pause doubles up to this
    # Payload codec keys (SEGUE_CODEC_KEYS / SEGUE_CODEC_KEYS_FILE): Temporal payloads
    # encrypted at rest, and the /codec routes the Temporal UI decodes through.
    codec_keys: CodecKeys | None = None
    # The Temporal UI's origin (scheme://host[:port]): the only one granted CORS, and
    # only on /codec/encode and /codec/decode.
    temporal_ui_origin: str | None = None
    # The claim-check (SEGUE_CLAIM_CHECK_BYTES, SEGUE_MAX_RESULT_BYTES): payloads over the
    # threshold travel by reference to a blob in the database; None: the defaults.
    claim_settings: ClaimSettings | None = None
    # How long a codec session cookie (POST /session) lasts: SEGUE_CODEC_SESSION_SECONDS.
    codec_session_seconds: int = DEFAULT_SESSION_SECONDS
    # The background reconciler's tick (SEGUE_RECONCILE_SECONDS, api/run_sweep.py); 0: off.
    reconcile_seconds: float = DEFAULT_RECONCILE_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> ApiConfig:
        """Read `SEGUE_DATABASE_URL`, `SEGUE_TEMPORAL_ADDRESS`, `SEGUE_TEMPORAL_NAMESPACE`,
        `SEGUE_TASK_QUEUE`, `SEGUE_API_TOKEN` (comma-separated), `SEGUE_EVENT_KEYS` (JSON
        object), `SEGUE_API_MAX_BODY_BYTES`, `SEGUE_API_ALLOWED_HOSTS` and
        `SEGUE_API_ALLOWED_ORIGINS` (comma-separated), the codec keys,
        `SEGUE_TEMPORAL_UI_ORIGIN`, `SEGUE_CODEC_SESSION_SECONDS` and
        `SEGUE_RECONCILE_SECONDS`; keyword overrides win."""
        from engine.temporal.claim_check import ClaimSettings
        from engine.temporal.codec import CodecConfigError, CodecKeys

        env = os.environ if environ is None else environ
        try:
            codec_keys = CodecKeys.from_env(env)
            claim_settings = ClaimSettings.from_env(env)
        except CodecConfigError as error:
            raise ConfigError(str(error)) from None
        values: dict[str, object] = {
            "database_url": _text(env, "SEGUE_DATABASE_URL") or DEFAULT_DATABASE_URL,
            "temporal_address": _text(env, "SEGUE_TEMPORAL_ADDRESS") or DEFAULT_TEMPORAL_ADDRESS,
            "temporal_namespace": _text(env, "SEGUE_TEMPORAL_NAMESPACE") or "default",
            "task_queue": _text(env, "SEGUE_TASK_QUEUE") or DEFAULT_TASK_QUEUE,
            "tokens": parse_tokens(env.get("SEGUE_API_TOKEN", "")),
            "event_keys": parse_event_keys(env.get("SEGUE_EVENT_KEYS", "")),
            "allowed_hosts": _list(env, "SEGUE_API_ALLOWED_HOSTS", lower=True),
            "allowed_origins": _list(env, "SEGUE_API_ALLOWED_ORIGINS"),
            "codec_keys": codec_keys,
            "claim_settings": claim_settings,
            "temporal_ui_origin": _text(env, "SEGUE_TEMPORAL_UI_ORIGIN").rstrip("/") or None,
        }
        session_seconds = _text(env, "SEGUE_CODEC_SESSION_SECONDS")
        if session_seconds:
            values["codec_session_seconds"] = _positive_int(
                "SEGUE_CODEC_SESSION_SECONDS", session_seconds
            )
        reconcile = _text(env, "SEGUE_RECONCILE_SECONDS")
        if reconcile:
            values["reconcile_seconds"] = _seconds("SEGUE_RECONCILE_SECONDS", reconcile)
        max_body = _text(env, "SEGUE_API_MAX_BODY_BYTES")
        if max_body:
            values["max_body_bytes"] = _positive_int("SEGUE_API_MAX_BODY_BYTES", max_body)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def check(self) -> None:
        """Refuse a configuration that would serve without authentication by accident."""
        if not self.tokens and not self.auth_disabled:
            raise ConfigError(
                "no API token: set SEGUE_API_TOKEN (comma-separated tokens allowed), or run "
                "`segue dev` / `segue api --insecure-dev` on a loopback address"
            )
        short = [token for token in self.tokens if len(token.encode()) < MIN_TOKEN_BYTES]
        if short:
            raise ConfigError(
                f"SEGUE_API_TOKEN: {len(short)} token(s) shorter than {MIN_TOKEN_BYTES} bytes; "
                "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        if not MIN_SESSION_SECONDS <= self.codec_session_seconds <= MAX_SESSION_SECONDS:
            raise ConfigError(
                f"SEGUE_CODEC_SESSION_SECONDS must be {MIN_SESSION_SECONDS}.."
                f"{MAX_SESSION_SECONDS} (a codec session is short-lived), "
                f"got {self.codec_session_seconds}"
            )
        if not (
            self.reconcile_seconds == 0 or 0.1 <= self.reconcile_seconds <= MAX_RECONCILE_SECONDS
        ):
            raise ConfigError(
                "SEGUE_RECONCILE_SECONDS must be 0 (off) or 0.1.."
                f"{MAX_RECONCILE_SECONDS:g} seconds, got {self.reconcile_seconds:g}"
            )
        if self.max_body_bytes < 1:
            raise ConfigError("the request body limit must be at least 1 byte")


def parse_tokens(raw: str) -> tuple[str, ...]:
    """Comma-separated bearer tokens; blanks are dropped."""
    return tuple(token.strip() for token in raw.split(",") if token.strip())


def parse_event_keys(raw: str) -> dict[str, str]:
    """`SEGUE_EVENT_KEYS`: a JSON object of event name -> JSONata expression."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f"SEGUE_EVENT_KEYS is not JSON: {error}") from error
    if not isinstance(parsed, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in parsed.items()
    ):
        raise ConfigError("SEGUE_EVENT_KEYS must be a JSON object of strings")
    return parsed


def _list(env: Mapping[str, str], name: str, *, lower: bool = False) -> tuple[str, ...]:
    """A comma-separated list; blanks dropped, trailing slashes of origins too."""
    items = (item.strip().rstrip("/") for item in env.get(name, "").split(","))
    return tuple(item.lower() if lower else item for item in items if item)


def _text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):  # NaN, infinities
        raise ConfigError(f"{name} must be a finite number of seconds, got {raw!r}")
    return value


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value
