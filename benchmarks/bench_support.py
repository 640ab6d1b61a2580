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


# ------------------------------------------------------------------ workflow shapes
# `body(i)` gives the YAML lines of task i (indented four spaces); a task without any
# line is written as `{}` (a pass-through).


def chain_workflow(n: int, body: Callable[[int], list[str]], header: tuple[str, ...] = ()) -> str:
    """Tasks t0..t{n-1}, each leading to the next when it succeeds."""
    lines = ["version: 1", *header, "tasks:"]
    for i in range(n):
        task = body(i)
        if i + 1 < n:
            task = [*task, f"    next: [{{when: $succeeded(), do: t{i + 1}}}]"]
        lines += [f"  t{i}:", *task] if task else [f"  t{i}: {{}}"]
    return "\n".join(lines) + "\n"


def fan_out_workflow(n: int, body: Callable[[int], list[str]]) -> str:
    """`split` -> b0..b{n-1} -> `gather` (join: all); split and gather get body(0)."""
    branches = ", ".join(f"b{i}" for i in range(n))
    lines = ["version: 1", "tasks:", "  split:", *body(0)]
    lines.append(f"    next: [{{when: $succeeded(), do: [{branches}]}}]")
    for i in range(n):
        lines += [f"  b{i}:", *body(i), "    next: [{when: $succeeded(), do: gather}]"]
    lines += ["  gather:", "    join: all", *body(0)]
    return "\n".join(lines) + "\n"
