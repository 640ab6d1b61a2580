"""CORS for the Temporal UI, on the codec routes only.

The UI decodes payloads by calling the codec endpoint from the browser, so the browser
must be told that the UI's origin may read the answers. Exactly one origin is granted
(`SEGUE_TEMPORAL_UI_ORIGIN`), and only on `/codec/…`; every other route and origin gets
no CORS header at all, so browsers keep refusing cross-origin reads there.
"""

from __future__ import annotations

from typing import Final

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

from api.browsers import CODEC_PREFIX

_PREFLIGHT_HEADERS: Final = [
    (b"access-control-allow-methods", b"POST"),
    (b"access-control-allow-headers", b"authorization, content-type, x-namespace"),
    (b"access-control-max-age", b"600"),
]


def codec_cors(origin: str | None) -> type[_CodecCors]:
    """An ASGI middleware class granting `origin` CORS on the codec routes."""
    return type("CodecCors", (_CodecCors,), {"origin": origin})


class _CodecCors:
    origin: str | None = None

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.origin is None
            or scope["type"] != ScopeType.HTTP
            or not str(scope.get("path", "")).startswith(CODEC_PREFIX)
            or _header(scope, b"origin") != self.origin
        ):
            await self.app(scope, receive, send)
            return
        granted = [
            (b"access-control-allow-origin", self.origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]
        if scope.get("method") == "OPTIONS":  # the preflight: no token, nothing routed
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": 204,
                "headers": [*granted, *_PREFLIGHT_HEADERS],
            }
            await send(start)
            end: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": b"",
                "more_body": False,
            }
            await send(end)
            return

        async def send_granted(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *granted]
            await send(message)

        await self.app(scope, receive, send_granted)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None
