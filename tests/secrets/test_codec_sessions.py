"""Codec session cookies without a server (api/sessions.py) and `segue dev`'s codec key
(api/dev_codec.py): what is accepted, what every hostile value gets, and the key file's
life (made once, owner-only, reused; the environment's keys win)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import pytest

from api.config import ApiConfig, ConfigError
from api.dev_codec import KEY_FILE_NAME, dev_codec_keys
from api.sessions import (
    COOKIE_NAME,
    MAX_SESSION_SECONDS,
    CodecSessions,
    Session,
    cookie_value,
    set_cookie_header,
)
from engine.temporal.codec import CodecConfigError

TOKEN = "a" * 32
OTHER = "b" * 32
NOW = 1_800_000_000.0

FORGED = "the codec session cookie was not signed by a current API token"
NOT_OURS = "the codec session cookie is not one this API issued"


def sessions(*tokens: str, now: float = NOW, lifetime: int = 3600) -> CodecSessions:
    return CodecSessions(tokens or (TOKEN,), lifetime, clock=lambda: now)


def signed(body: str, token: str = TOKEN) -> str:
    """A cookie signed the way the API signs, for any body (an attacker who has a key)."""
    key = hmac.new(token.encode(), b"segue codec session v1", hashlib.sha256).digest()
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_a_fresh_session_opens_the_codec_routes_until_it_expires() -> None:
    issued = sessions().issue(TOKEN)
    assert issued.expires == NOW + 3600
    assert sessions().problem(issued.value) is None
    assert sessions(now=NOW + 3599).problem(issued.value) is None
    assert "has expired" in str(sessions(now=NOW + 3600).problem(issued.value))
    # Two sessions are never the same value (a random nonce in each).
    assert sessions().issue(TOKEN).value != issued.value


def test_rotating_the_token_out_revokes_its_sessions() -> None:
    issued = sessions(TOKEN, OTHER).issue(TOKEN)
    assert sessions(OTHER, TOKEN).problem(issued.value) is None  # order does not matter
    assert FORGED in str(sessions(OTHER).problem(issued.value))


NONCE = "A" * 22
HOSTILE = [
    ("", NOT_OURS),
    ("v1", NOT_OURS),
    ("x" * 5000, NOT_OURS),
    (f"v2.{int(NOW) + 60}.{NONCE}.{'A' * 43}", NOT_OURS),
    (f"v1.{int(NOW) + 60}.{NONCE}.{'A' * 43}", FORGED),  # well-formed, wrong MAC
    (f"v1.-5.{NONCE}.{'A' * 43}", NOT_OURS),
    (f"v1.{int(NOW) + 60}.{NONCE}.{'A' * 42}=", NOT_OURS),
    (f"v1.{int(NOW) + 60}.{NONCE}.{'A' * 43}.extra", NOT_OURS),
    (f"v1.{'9' * 13}.{NONCE}.{'A' * 43}", NOT_OURS),
    (signed(f"v1.{int(NOW) - 1}.{NONCE}"), "has expired"),
    # Signed, but for longer than any lifetime allows: never honoured.
    (signed(f"v1.{int(NOW) + MAX_SESSION_SECONDS + 60}.{NONCE}"), NOT_OURS),
    (signed(f"v1.{int(NOW) + 60}.{NONCE}", OTHER), FORGED),
]


@pytest.mark.parametrize(("value", "problem"), HOSTILE)
def test_hostile_cookie_values_are_refused(value: str, problem: str) -> None:
    assert problem in str(sessions().problem(value))


def test_a_signed_value_within_bounds_is_accepted() -> None:
    # The check above is the MAC, not the shape alone: the same shape, signed, opens.
    assert sessions().problem(signed(f"v1.{int(NOW) + 60}.{NONCE}")) is None


def test_the_cookie_is_httponly_strict_and_scoped_to_the_codec_routes() -> None:
    header = set_cookie_header(Session("v", 1), secure=False, max_age=600)
    assert header == f"{COOKIE_NAME}=v; Path=/codec/; Max-Age=600; HttpOnly; SameSite=Strict"
    assert set_cookie_header(Session("v", 1), secure=True, max_age=0).endswith("; Secure")
    assert cookie_value(f"a=1; {COOKIE_NAME}=abc ; b=2") == "abc"
    assert cookie_value(f"x{COOKIE_NAME}=abc") is None and cookie_value("") is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("59", "must be 60..86400"),
        ("86401", "must be 60..86400"),
        ("0", "must be positive"),
        ("an hour", "must be an integer"),
    ],
)
def test_session_lifetimes_are_bounded(raw: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        ApiConfig.from_env({"SEGUE_API_TOKEN": TOKEN, "SEGUE_CODEC_SESSION_SECONDS": raw}).check()


def test_dev_makes_an_owner_only_key_once_and_reuses_it(tmp_path: Path) -> None:
    first = dev_codec_keys(tmp_path / "data", {})
    path = tmp_path / "data" / KEY_FILE_NAME
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert first.source == f"{path} (new)" and first.keys.newest[0] == "dev1"
    again = dev_codec_keys(tmp_path / "data", {})
    assert again.keys == first.keys and again.source == f"{path} (kept)"


def test_the_environments_keys_win_over_the_dev_key(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    chosen = dev_codec_keys(tmp_path, {"SEGUE_CODEC_KEYS": f"ops:{key}"})
    assert chosen.keys.newest[0] == "ops" and chosen.source == "from SEGUE_CODEC_KEYS"
    assert not (tmp_path / KEY_FILE_NAME).exists()
    with pytest.raises(CodecConfigError, match="SEGUE_CODEC_KEYS: entry 1"):
        dev_codec_keys(tmp_path, {"SEGUE_CODEC_KEYS": "nonsense"})


def test_a_dev_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    dev_codec_keys(tmp_path, {})
    (tmp_path / KEY_FILE_NAME).chmod(0o644)
    with pytest.raises(CodecConfigError, match="readable by others"):
        dev_codec_keys(tmp_path, {})
    (tmp_path / KEY_FILE_NAME).chmod(0o600)
    (tmp_path / KEY_FILE_NAME).write_text("dev1:short\n")
    with pytest.raises(CodecConfigError, match="is not base64"):
        dev_codec_keys(tmp_path, {})
