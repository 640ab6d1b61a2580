"""Payload codec keys and the codec itself, without a server: hostile configurations get
precise errors; sealing, opening and rotation (engine/temporal/codec.py)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from engine.temporal.codec import (
    ENCODING,
    KEY_ID,
    CodecConfigError,
    CodecError,
    CodecKeys,
    EncryptionCodec,
)

K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()

REFUSED = [
    ("k1", "entry 1 is not `id:base64key`"),
    (f"bad id!:{K1}", "entry 1 is not `id:base64key`"),
    ("k1:not*base64", "key 'k1' is not base64"),
    (f"k1:{base64.b64encode(b'short').decode()}", "key 'k1' is 5 bytes; AES-256 needs 32"),
    (f"k1:{K1},k1:{K2}", "key id 'k1' is listed twice"),
    (",".join(f"k{i}:{K1}" for i in range(65)), "65 keys, at most 64"),
]


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_unusable_keys_are_refused_with_the_key_named(text: str, message: str) -> None:
    with pytest.raises(CodecConfigError, match="SEGUE_CODEC_KEYS: ") as raised:
        CodecKeys.parse(text)
    assert message in str(raised.value)
    assert K1 not in str(raised.value)  # an error never shows key material


def test_keys_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert CodecKeys.from_env({}) is None
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# oldest first\nold:{K1}\nnew:{K2}  # current\n")
    keys = CodecKeys.from_env({"SEGUE_CODEC_KEYS_FILE": str(keys_file)})
    assert keys is not None and keys.newest[0] == "new" and keys.get("old") == b"1" * 32
    with pytest.raises(CodecConfigError, match="not both"):
        CodecKeys.from_env({"SEGUE_CODEC_KEYS": f"a:{K1}", "SEGUE_CODEC_KEYS_FILE": "x"})
    with pytest.raises(CodecConfigError, match="cannot read the keys file"):
        CodecKeys.from_env({"SEGUE_CODEC_KEYS_FILE": str(tmp_path / "missing")})


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


def test_payloads_are_sealed_with_the_newest_key_and_open_with_any_listed() -> None:
    old = EncryptionCodec(CodecKeys.parse(f"old:{K1}"))
    rotated = EncryptionCodec(CodecKeys.parse(f"old:{K1},new:{K2}"))
    secret = '"sk-live-123"'
    (sealed_old,) = asyncio.run(old.encode([_payload(secret)]))
    assert sealed_old.metadata["encoding"] == ENCODING and sealed_old.metadata[KEY_ID] == b"old"
    assert b"sk-live" not in sealed_old.SerializeToString()
    (sealed_new,) = asyncio.run(rotated.encode([_payload(secret)]))
    assert sealed_new.metadata[KEY_ID] == b"new"
    # After rotation both open; the same value never seals to the same bytes twice.
    opened = asyncio.run(rotated.decode([sealed_old, sealed_new, _payload("plain")]))
    assert [p.data for p in opened] == [secret.encode(), secret.encode(), b"plain"]
    assert asyncio.run(rotated.encode([_payload(secret)]))[0].data != sealed_new.data
    # A process that lost the key says which key it needs.
    with pytest.raises(CodecError, match="codec key 'new', which is not configured"):
        asyncio.run(old.decode([sealed_new]))


def test_altered_or_relabelled_payloads_do_not_open() -> None:
    codec = EncryptionCodec(CodecKeys.parse(f"a:{K1},b:{K1}"))
    (sealed,) = asyncio.run(codec.encode([_payload("x")]))
    # One bit of the tag flipped (a fixed byte would leave it unchanged 1 time in 256).
    flipped = Payload(
        metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    )
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"a"}, data=sealed.data)
    truncated = Payload(metadata=dict(sealed.metadata), data=b"short")
    for payload in (flipped, relabelled, truncated):
        with pytest.raises(CodecError, match="does not open"):
            asyncio.run(codec.decode([payload]))
