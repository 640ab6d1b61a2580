"""Connection pool for the store: one per process, opened in the app's or worker's
start-up, migrations applied once."""

from __future__ import annotations

import os

from psycopg_pool import AsyncConnectionPool

from engine.store._db import StorePool as StorePool
from engine.store.migrate import apply_migrations

DATABASE_URL_VARIABLE = "SEGUE_DATABASE_URL"


def store_url_from_env() -> str | None:
    """The database URL from `SEGUE_DATABASE_URL`, or None when unset or blank."""
    url = os.environ.get(DATABASE_URL_VARIABLE, "").strip()
    return url or None


async def open_pool(
    conninfo: str, min_size: int = 1, max_size: int = 10, *, migrate: bool = True
) -> StorePool:
    """Open a pool (waiting until it has `min_size` connections) and bring the schema
    up to date; closing it is the caller's (`await pool.close()`)."""
    pool: StorePool = AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        # Single statements commit on their own; multi-statement work opens an explicit
        # transaction. (No per-checkout `check`: it costs a round trip on every use.)
        kwargs={"autocommit": True},
        name="segue-store",
    )
    await pool.open(wait=True)
    try:
        if migrate:
            await apply_migrations(pool)
    except BaseException:
        await pool.close()
        raise
    return pool
