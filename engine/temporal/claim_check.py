"""A payload codec that keeps large payloads out of Temporal's history (claim-check).

Temporal refuses a payload over 2 MiB, and a history full of large results is slow to
replay. With this codec a payload larger than the threshold (128 KiB by default) is
stored in PostgreSQL (engine/store/claims.py) under the SHA-256 of its bytes, and the
history holds a reference payload of about 150 bytes: its own encoding, the hash and the
size. Decoding fetches the bytes, checks them against the hash and size, and keeps them
in a bounded in-process LRU cache, so a replay does not read them again. Workflow code
is unchanged: it sees the full values, as Temporal's recommended claim-check pattern.

Chained after the encryption codec (engine/temporal/codec.py): a payload is sealed
first, then claimed, so a blob at rest is ciphertext when keys are set. A claimed payload
is sealed with a nonce derived from its plaintext (`EncryptionCodec.seal(...,
deterministic=True)`), so sealing the same value again — a workflow task retried or
replayed, an activity completion resent — gives the same bytes, the same hash, and the
blob is stored once.

The store must be reachable to decode: a workflow task whose history holds a reference
it cannot fetch fails, and Temporal retries the task until the database is back (the run
waits; nothing is decided on a missing value). A reference the store does not hold, or
malformed reference metadata, fails with a `ClaimCheckError` saying which.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from engine.temporal.codec import CodecConfigError, CodecError, EncryptionCodec

ENCODING: Final = b"binary/claim-check"
SHA256: Final = "claim-sha256"
SIZE: Final = "claim-size"
THRESHOLD_VARIABLE: Final = "SEGUE_CLAIM_CHECK_BYTES"
MAX_RESULT_VARIABLE: Final = "SEGUE_MAX_RESULT_BYTES"
DEFAULT_THRESHOLD: Final = 128 * 1024
DEFAULT_MAX_RESULT: Final = 16 * 1024 * 1024
# A threshold past 1 MiB would let payloads near Temporal's 2 MiB refusal stay inline.
MAX_THRESHOLD: Final = 1024 * 1024
# Results are held whole in worker memory (and in the workflow's state): the setting's
# ceiling, which the blob table's CHECK also allows for (plus the payload's envelope).
CEILING_MAX_RESULT: Final = 64 * 1024 * 1024
# The stored bytes of a payload are at most its data plus this much (metadata, the
# encryption's nonce and tag): what a reference may claim beyond the result cap.
_ENVELOPE: Final = 1024
CACHE_BYTES: Final = 64 * 1024 * 1024
# A payload this process wrote within this long is not written again when it is encoded
# again (a replay, a retried task): the store marked it written then, so a cleanup by age
# (days, docs/operations.md) cannot have removed it since.
WRITTEN_SECONDS: Final = 3600.0
_WRITTEN_ENTRIES: Final = 10_000
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_DIGITS: Final = re.compile(r"^[0-9]{1,10}$")


class ClaimCheckError(CodecError):
    """A reference cannot be resolved: malformed, unknown, or bytes that do not match."""


class ClaimStore(Protocol):
    async def put(self, digest: str, data: bytes) -> None: ...

    async def get(self, digest: str) -> bytes | None: ...


@dataclasses.dataclass(frozen=True)
class ClaimSettings:
    """`threshold`: payloads larger than this (bytes, as stored) travel by reference; 0
    turns the claim-check off. `max_result`: the largest action result a worker accepts
    (`payload_too_large` above it; 1 MiB when the claim-check is off)."""

    threshold: int = DEFAULT_THRESHOLD
    max_result: int = DEFAULT_MAX_RESULT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClaimSettings:
        environ = os.environ if environ is None else environ
        threshold = _whole(environ, THRESHOLD_VARIABLE, DEFAULT_THRESHOLD, 0, MAX_THRESHOLD)
        if 0 < threshold < 1024:
            raise CodecConfigError(f"{THRESHOLD_VARIABLE}: 0 (off) or at least 1024 bytes")
        max_result = _whole(
            environ, MAX_RESULT_VARIABLE, DEFAULT_MAX_RESULT, 1024 * 1024, CEILING_MAX_RESULT
        )
        return cls(threshold, max_result)


def _whole(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not _DIGITS.match(text) or not low <= int(text) <= high:
        raise CodecConfigError(f"{name}: a whole number of bytes from {low:,} to {high:,}")
    return int(text)


class ClaimCheckCodec(PayloadCodec):
    """Seals with `inner` (if any), then claims what is larger than `threshold`."""

    def __init__(
        self,
        store: ClaimStore,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        max_size: int = DEFAULT_MAX_RESULT,
        inner: EncryptionCodec | None = None,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.store = store
        self.threshold = threshold
        self.max_size = max_size + _ENVELOPE
        self.inner = inner
        self._cache = _LRU(cache_bytes)
        self._written = _Written()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self._encode(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self._decode(payload) for payload in payloads]

    async def _encode(self, payload: Payload) -> Payload:
        large = payload.ByteSize() > self.threshold
        if self.inner is not None:
            payload = self.inner.seal(payload, deterministic=large)
        if not large:
            return payload
        data = payload.SerializeToString()
        digest = hashlib.sha256(data).hexdigest()
        if not self._written.recent(digest):
            await self.store.put(digest, data)
            self._written.add(digest)
            self._cache.put(digest, data)
        return Payload(
            metadata={"encoding": ENCODING, SHA256: digest.encode(), SIZE: b"%d" % len(data)}
        )

    async def _decode(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") == ENCODING:
            payload = Payload.FromString(await self._fetch(payload))
        return self.inner.open(payload) if self.inner is not None else payload

    async def _fetch(self, reference: Payload) -> bytes:
        digest = reference.metadata.get(SHA256, b"").decode("ascii", "replace")
        size_text = reference.metadata.get(SIZE, b"").decode("ascii", "replace")
        if not _HEX64.match(digest) or not _DIGITS.match(size_text) or reference.data:
            raise ClaimCheckError(
                f"malformed claim-check reference: it needs `{SHA256}` (64 lowercase hex "
                f"digits), `{SIZE}` (a whole number) and no data"
            )
        size = int(size_text)
        if size > self.max_size:
            raise ClaimCheckError(
                f"claim-check reference {digest[:12]}… claims {size:,} bytes, more than "
                f"the {self.max_size:,} a payload may have"
            )
        data = self._cache.get(digest)
        if data is None:
            data = await self.store.get(digest)
            if data is None:
                raise ClaimCheckError(
                    f"claim-check blob {digest[:12]}… is not in the store (deleted, or a "
                    "reference this deployment never wrote)"
                )
            # The store is trusted only as far as the hash: altered bytes never decode.
            if hashlib.sha256(data).hexdigest() != digest:
                raise ClaimCheckError(f"claim-check blob {digest[:12]}… does not match its hash")
            self._cache.put(digest, data)
        if len(data) != size:
            raise ClaimCheckError(
                f"claim-check blob {digest[:12]}… is {len(data):,} bytes; the reference "
                f"says {size:,}"
            )
        return data


class _Written:
    """The hashes this process wrote lately, with when (the oldest forgotten first)."""

    def __init__(self) -> None:
        self._at: OrderedDict[str, float] = OrderedDict()

    def recent(self, digest: str) -> bool:
        at = self._at.get(digest)
        return at is not None and time.monotonic() - at < WRITTEN_SECONDS

    def add(self, digest: str) -> None:
        self._at[digest] = time.monotonic()
        self._at.move_to_end(digest)
        while len(self._at) > _WRITTEN_ENTRIES:
            self._at.popitem(last=False)


class _LRU:
    """Blob bytes by hash, least recently used dropped first past `limit` bytes in all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def get(self, digest: str) -> bytes | None:
        data = self._items.get(digest)
        if data is not None:
            self._items.move_to_end(digest)
        return data

    def put(self, digest: str, data: bytes) -> None:
        if len(data) > self.limit or digest in self._items:
            return
        self._items[digest] = data
        self.size += len(data)
        while self.size > self.limit:
            _, dropped = self._items.popitem(last=False)
            self.size -= len(dropped)
