"""Claim-check blobs: Temporal payloads too large for its history, by SHA-256 of their
bytes (engine/temporal/claim_check.py decides what goes here and checks what comes back)."""

from __future__ import annotations

from collections.abc import Callable

from engine.store._db import StorePool, fetch_value

INSERT = """
INSERT INTO claim_checks (sha256, size_bytes, content) VALUES (%s, %s, %s)
ON CONFLICT (sha256) DO UPDATE SET stored_at = now()
"""
SELECT = "SELECT content FROM claim_checks WHERE sha256 = %s"


class PostgresClaims:
    """The claim-check store in PostgreSQL. `pool` is the pool or a function giving it at
    each use (the API's pool may open after its Temporal client is made)."""

    def __init__(self, pool: StorePool | Callable[[], StorePool]) -> None:
        self._pool = pool

    def _current(self) -> StorePool:
        return self._pool() if callable(self._pool) else self._pool

    async def put(self, digest: str, data: bytes) -> None:
        """Store `data` under `digest` (its SHA-256); a second put of the same stores
        nothing new and only marks the blob as written now."""
        async with self._current().connection() as conn:
            await conn.execute(INSERT, (digest, len(data), data))

    async def get(self, digest: str) -> bytes | None:
        """The bytes stored under `digest`, or None."""
        async with self._current().connection() as conn:
            value = await fetch_value(conn, SELECT, (digest,))
        return None if value is None else bytes(value)
