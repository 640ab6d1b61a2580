"""What the benchmark scripts share: a PostgreSQL database to write to."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def benchmark_database(cleanups: list[Callable[[], None]], log: Callable[[str], None]) -> str:
    """SEGUE_DATABASE_URL, else a temporary database on the local server (dropped by a
    cleanup appended to `cleanups`)."""
    url = os.environ.get("SEGUE_DATABASE_URL", "").strip()
    if url:
        log("database: SEGUE_DATABASE_URL")
        return url
    import psycopg
    from psycopg import sql

    name = f"segue_bench_{secrets.token_hex(5)}"
    with psycopg.connect(LOCAL_SERVER_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        with psycopg.connect(LOCAL_SERVER_URL, autocommit=True) as conn:
            statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(statement.format(sql.Identifier(name)))

    cleanups.append(drop)
    log(f"database: temporary {name} on {LOCAL_SERVER_URL}")
    return LOCAL_SERVER_URL.rsplit("/", 1)[0] + "/" + name
