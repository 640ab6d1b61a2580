"""A Temporal payload codec that encrypts every payload at rest (AES-256-GCM).

Run inputs, action inputs and results, trace batches, the resolved `$secret` values and
failure messages all travel through Temporal's history. With keys configured, each
payload is serialised and sealed with the *newest* key; the key's id rides in the
payload's metadata, so a payload sealed with an older key still opens as long as that
key is listed. Rotation is therefore: add a key at the end, roll out, and drop an old
key only once no history that holds it is still needed (docs/operations.md).

Keys: `SEGUE_CODEC_KEYS="id:base64key,…"` (oldest first, newest last) or
`SEGUE_CODEC_KEYS_FILE` (one `id:base64key` per line, `#` comments). Each key is 32
random bytes, e.g. `python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from engine.temporal.converter import DATA_CONVERTER

if TYPE_CHECKING:
    from engine.temporal.claim_check import ClaimSettings, ClaimStore

ENCODING: Final = b"binary/encrypted"
KEY_ID: Final = "encryption-key-id"
KEYS_VARIABLE: Final = "SEGUE_CODEC_KEYS"
KEYS_FILE_VARIABLE: Final = "SEGUE_CODEC_KEYS_FILE"
_KEY_ID: Final = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_MAX_KEYS: Final = 64


class CodecConfigError(ValueError):
    """The codec keys are unusable; the message names the key and the fault."""


class CodecError(Exception):
    """A payload cannot be opened (an unknown key, or data that is not what was sealed)."""


@dataclasses.dataclass(frozen=True)
class CodecKeys:
    """Named AES-256 keys, oldest first: the last one seals, every one opens."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise CodecConfigError("no codec keys given")

    @property
    def newest(self) -> tuple[str, bytes]:
        return self.keys[-1]

    def get(self, key_id: str) -> bytes | None:
        return dict(self.keys).get(key_id)

    @classmethod
    def parse(cls, text: str, where: str = KEYS_VARIABLE) -> CodecKeys:
        """`id:base64key` entries separated by commas or lines; `#` starts a comment."""
        entries = [
            entry.strip()
            for line in text.splitlines()
            for entry in line.split("#", 1)[0].split(",")
            if entry.strip()
        ]
        if len(entries) > _MAX_KEYS:
            raise CodecConfigError(f"{where}: {len(entries)} keys, at most {_MAX_KEYS}")
        keys: list[tuple[str, bytes]] = []
        for number, entry in enumerate(entries, start=1):
            key_id, colon, encoded = entry.partition(":")
            if not colon or not _KEY_ID.match(key_id):
                raise CodecConfigError(
                    f"{where}: entry {number} is not `id:base64key` with an id of letters, "
                    "digits, `.`, `_` or `-` (at most 64)"
                )
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise CodecConfigError(f"{where}: key {key_id!r} is not base64") from None
            if len(key) != 32:
                raise CodecConfigError(
                    f"{where}: key {key_id!r} is {len(key)} bytes; AES-256 needs 32 random bytes"
                )
            if any(known == key_id for known, _ in keys):
                raise CodecConfigError(f"{where}: key id {key_id!r} is listed twice")
            keys.append((key_id, key))
        return cls(tuple(keys))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CodecKeys | None:
        """The keys the environment configures, or None when it configures none."""
        environ = os.environ if environ is None else environ
        inline = environ.get(KEYS_VARIABLE, "").strip()
        path = environ.get(KEYS_FILE_VARIABLE, "").strip()
        if inline and path:
            raise CodecConfigError(f"set {KEYS_VARIABLE} or {KEYS_FILE_VARIABLE}, not both")
        if path:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CodecConfigError(
                    f"{KEYS_FILE_VARIABLE}: cannot read the keys file: {error.__class__.__name__}"
                ) from None
            return cls.parse(text, KEYS_FILE_VARIABLE)
        return cls.parse(inline) if inline else None


class EncryptionCodec(PayloadCodec):
    """Seals payloads with the newest key; opens them with the key their metadata names."""

    def __init__(self, keys: CodecKeys) -> None:
        self.keys = keys
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys}
        # A key of its own for synthetic nonces, derived so the AES key is used for
        # nothing else.
        self._nonce_keys = {
            key_id: hmac.digest(key, b"segue synthetic nonce", hashlib.sha256)
            for key_id, key in keys.keys
        }

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(payload) for payload in payloads]

    def seal(self, payload: Payload, *, deterministic: bool = False) -> Payload:
        """Sealed with the newest key. `deterministic`: the nonce is an HMAC of the
        plaintext, so the same payload seals to the same bytes (the claim-check stores it
        once, engine/temporal/claim_check.py). That reveals only that two such payloads
        are equal; nonces repeat only for equal plaintexts, so GCM's nonce rule holds
        (the SIV construction's argument), with the same 96-bit collision bound as
        random nonces."""
        key_id, _ = self.keys.newest
        plain = payload.SerializeToString()
        if deterministic:
            nonce = hmac.digest(self._nonce_keys[key_id], plain, hashlib.sha256)[:_NONCE_BYTES]
        else:
            nonce = os.urandom(_NONCE_BYTES)
        # The key id is authenticated too: a payload cannot be passed off under another.
        sealed = self._ciphers[key_id].encrypt(nonce, plain, key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
        )

    def open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written without a codec (before keys were set): as it is
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = ", ".join(repr(known) for known, _ in self.keys.keys)
            raise CodecError(
                f"payload sealed with codec key {key_id[:64]!r}, which is not configured "
                f"(known: {known}); add it back to {KEYS_VARIABLE}"
            )
        data = payload.data
        try:
            if len(data) < _NONCE_BYTES + _TAG_BYTES:
                raise InvalidTag
            opened = cipher.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise CodecError(
                f"payload sealed with codec key {key_id!r} does not open: it was altered, "
                "or the key under that id changed"
            ) from None
        return Payload.FromString(opened)


def data_converter(
    keys: CodecKeys | None, claims: ClaimStore | None = None, settings: ClaimSettings | None = None
) -> DataConverter:
    """Segue's data converter; with keys, payloads and failure messages are encrypted
    (failure messages and stack traces move into the encoded attributes); with a claim
    store, payloads over the threshold travel by reference (engine/temporal/claim_check.py)."""
    codec = payload_codec(keys, claims, settings)
    if codec is None:
        return DATA_CONVERTER
    if keys is None:
        return dataclasses.replace(DATA_CONVERTER, payload_codec=codec)
    return dataclasses.replace(
        DATA_CONVERTER,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def payload_codec(
    keys: CodecKeys | None, claims: ClaimStore | None = None, settings: ClaimSettings | None = None
) -> PayloadCodec | None:
    """The codec chain: encryption (with keys), then the claim-check (with a store and a
    threshold); None when neither is on."""
    # Here, not at the top: claim_check builds on this module's EncryptionCodec.
    from engine.temporal.claim_check import ClaimCheckCodec, ClaimSettings

    settings = settings or ClaimSettings.from_env()
    encryption = EncryptionCodec(keys) if keys is not None else None
    if claims is None or settings.threshold == 0:
        return encryption
    return ClaimCheckCodec(
        claims, threshold=settings.threshold, max_size=settings.max_result, inner=encryption
    )


def converter_from_env(
    environ: Mapping[str, str] | None = None, claims: ClaimStore | None = None
) -> DataConverter:
    """The data converter the environment's codec keys (and claim-check settings) call for."""
    from engine.temporal.claim_check import ClaimSettings

    return data_converter(CodecKeys.from_env(environ), claims, ClaimSettings.from_env(environ))
