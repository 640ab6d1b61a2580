"""Codec sessions: the cookie that lets a browser (the Temporal UI) call the codec routes.

The Temporal UI decodes payloads by calling `/codec/decode` from the browser, and it can
send the browser's cookies there ("include cross-origin credentials") but never Segue's
bearer token. So a token holder trades the token for a short-lived cookie
(`POST /session`, which the console does on sign-in) that is:

- **accepted by the codec routes only** (api/auth.py): every other route still needs the
  bearer token, so a page that makes the browser send the cookie can change nothing;
- **HttpOnly, SameSite=Strict, `Path=/codec/`**: no script reads it, no other site's
  request carries it, and the browser sends it nowhere else on the API;
- **signed, not stored**: `v1.<expiry>.<nonce>.<mac>`, the MAC made with a key derived
  from the token that asked for it. Nothing is kept on the server, any API replica
  checks it, and removing that token from `SEGUE_API_TOKEN` (rotation) revokes every
  cookie it made.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

COOKIE_NAME: Final = "segue_codec_session"
COOKIE_PATH: Final = "/codec/"
DEFAULT_SESSION_SECONDS: Final = 3600
MIN_SESSION_SECONDS: Final = 60
MAX_SESSION_SECONDS: Final = 86_400
_VERSION: Final = "v1"
_NONCE_BYTES: Final = 16
# Domain separation: a key derived for sessions signs nothing else.
_KEY_LABEL: Final = b"segue codec session v1"
# Anything longer is not one of ours; refuse it before doing any work.
_MAX_COOKIE_CHARS: Final = 200
_SHAPE: Final = re.compile(r"^v1\.(\d{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _session_key(token: str) -> bytes:
    return hmac.new(token.encode(), _KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class Session:
    """A cookie value and when it stops working (Unix seconds)."""

    value: str
    expires: int


class CodecSessions:
    """Issues and checks codec session cookies for a deployment's bearer tokens."""

    def __init__(
        self,
        tokens: Sequence[str],
        lifetime_seconds: int = DEFAULT_SESSION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = tuple(_session_key(token) for token in tokens)
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock

    def issue(self, token: str) -> Session:
        """A new session signed for `token` (which the caller has checked)."""
        expires = int(self._clock()) + self.lifetime_seconds
        body = f"{_VERSION}.{expires}.{_b64(os.urandom(_NONCE_BYTES))}"
        mac = hmac.new(_session_key(token), body.encode(), hashlib.sha256).digest()
        return Session(f"{body}.{_b64(mac)}", expires)

    def problem(self, value: str) -> str | None:
        """Why a cookie value is not a live session of a configured token, or None."""
        if len(value) > _MAX_COOKIE_CHARS:
            return "the codec session cookie is not one this API issued"
        shape = _SHAPE.match(value)
        if shape is None:
            return "the codec session cookie is not one this API issued"
        expires = int(shape.group(1))
        try:
            presented = _unb64(shape.group(3))
        except (binascii.Error, ValueError):
            return "the codec session cookie is not one this API issued"
        body = value.rsplit(".", 1)[0].encode()
        matched = False
        for key in self._keys:
            # No early exit: the time taken does not say which token's key matched.
            expected = hmac.new(key, body, hashlib.sha256).digest()
            matched |= hmac.compare_digest(presented, expected)
        if not matched:
            return (
                "the codec session cookie was not signed by a current API token "
                "(forged, or its token was rotated out): sign in again"
            )
        now = self._clock()
        if expires <= now:
            return "the codec session has expired: sign in again (POST /session)"
        if expires > now + MAX_SESSION_SECONDS:
            # Signed, but for longer than any setting allows: a clock jump or a key
            # shared with something else. Never honour it.
            return "the codec session cookie is not one this API issued"
        return None


def set_cookie_header(session: Session, *, secure: bool, max_age: int) -> str:
    """The `Set-Cookie` value for a session (`max_age` 0 clears it)."""
    attributes = [
        f"{COOKIE_NAME}={session.value}",
        f"Path={COOKIE_PATH}",
        f"Max-Age={max_age}",
        "HttpOnly",
        "SameSite=Strict",
    ]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def cookie_value(cookie_header: str) -> str | None:
    """The codec session's value in a `Cookie` header, or None."""
    for part in cookie_header.split(";"):
        name, equals, value = part.strip().partition("=")
        if equals and name == COOKIE_NAME:
            return value.strip()
    return None
