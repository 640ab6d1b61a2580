"""uvicorn with the limits a slow or greedy client needs.

uvicorn (0.54) bounds the size of a request head (`h11_max_incomplete_event_size`) and
the idle time between requests (`timeout_keep_alive`), and answers 503 past
`limit_concurrency`; it has no deadline for *receiving* a request. A client sending one
header line every few seconds would hold its connection for ever, and a hundred of them
the server. `GuardedH11Protocol` adds a deadline for the head and one for the body, and
closes connections beyond a hard cap at once.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.config import ConfigError
from api.problems import PROBLEM_MEDIA_TYPE, problem_body

MAX_HEAD_BYTES: Final = 16 * 1024


@dataclass(frozen=True)
class ServerLimits:
    """Deadlines and caps for one API process (docs/api.md "Limits")."""

    header_timeout: float = 10.0  # from connection (or a request's first byte) to its head
    body_timeout: float = 30.0  # from the head to the body's last byte
    max_connections: int = 1024  # open connections; more are closed on accept
    keep_alive: int = 5  # idle seconds between requests on one connection

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerLimits:
        """The limits, each overridable by its variable (`ConfigError` naming a bad one)."""
        env = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for field, (variable, kind, low, high) in _SETTINGS.items():
            raw = env.get(variable, "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigError(f"{variable} must be a number, got {raw[:40]!r}") from None
            if not low <= value <= high:
                raise ConfigError(f"{variable} must be between {low:g} and {high:g}, got {raw}")
            values[field] = value
        return cls(**values)  # type: ignore[arg-type]


# Field -> (variable, type, lowest, highest): bounds that keep the server defensible (a
# head timeout of an hour is no timeout) and workable (at least one connection).
_SETTINGS: Final[dict[str, tuple[str, type[float] | type[int], float, float]]] = {
    "header_timeout": ("SEGUE_API_HEADER_TIMEOUT", float, 0.1, 300),
    "body_timeout": ("SEGUE_API_BODY_TIMEOUT", float, 0.1, 3600),
    "max_connections": ("SEGUE_API_MAX_CONNECTIONS", int, 1, 1_000_000),
    "keep_alive": ("SEGUE_API_KEEP_ALIVE", int, 1, 600),
}


def _timeout_answer() -> bytes:
    body = json.dumps(
        problem_body(408, "REQUEST_TIMEOUT", "the request did not arrive in time")
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with request read deadlines and a connection cap."""

    limits: ServerLimits = ServerLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = "head"  # head -> body -> done -> (next request) idle -> head

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            transport.abort()  # no answer: answering is what a flood wants
            return
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase == "idle":  # the first byte of the next request on this connection
            self._phase = "head"
            self._arm(self.limits.header_timeout)
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        state = self.conn.their_state
        if state is h11.SEND_BODY and self._phase == "head":
            self._phase = "body"
            self._arm(self.limits.body_timeout)
        elif state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._phase = "done"
            self._disarm()

    def on_response_complete(self) -> None:
        self._disarm()
        self._phase = "idle"  # uvicorn's keep-alive timer covers the idle time
        super().on_response_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_timeout_answer())
        if self.cycle is not None:
            self.cycle.disconnected = True
        self.transport.close()


def guarded_protocol(limits: ServerLimits) -> type[GuardedH11Protocol]:
    """The protocol class with these limits (uvicorn instantiates it per connection)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})


def server_config(
    app: Any, host: str, port: int, *, limits: ServerLimits | None = None, **options: Any
) -> uvicorn.Config:
    """A uvicorn configuration with Segue's limits."""
    limits = limits or ServerLimits()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=limits.keep_alive,
        limit_concurrency=limits.max_connections,
        timeout_graceful_shutdown=15,
        **options,
    )
