"""A real PostgreSQL for the tests (never a fake), found in this order:

1. `SEGUE_TEST_DATABASE_URL`: a server the tests may create databases on (the database
   named in the URL is only used to connect);
2. the machine's own server at `postgresql://postgres@127.0.0.1:5432/postgres`;
3. an embedded server from the `pgserver` package (PostgreSQL 16, in a temporary
   directory, stopped and deleted at the end of the session).

`SEGUE_TEST_FORCE_PGSERVER=1` skips straight to 3. Every test module gets a database of
its own, `segue_test_<random>`, dropped afterwards. Registered for all suites in
`tests/conftest.py`; mark tests that use it with `@pytest.mark.postgres`."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

TEST_URL_VARIABLE = "SEGUE_TEST_DATABASE_URL"
FORCE_PGSERVER_VARIABLE = "SEGUE_TEST_FORCE_PGSERVER"
LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def with_database(url: str, dbname: str) -> str:
    """The same server address with another database name (URL or key=value form)."""
    if url.startswith(("postgresql://", "postgres://")):
        return urlunsplit(urlsplit(url)._replace(path="/" + dbname))
    return make_conninfo(url, dbname=dbname)


@contextmanager
def _embedded_server() -> Iterator[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            import pgserver
    except ImportError:
        pytest.fail(
            "no PostgreSQL for the tests: set SEGUE_TEST_DATABASE_URL, start the local "
            "server, or `pip install -e '.[test]'` for the embedded one (pgserver)"
        )
    # A short path: the server's Unix socket lives in it (108-byte limit).
    data_dir = tempfile.mkdtemp(prefix="segue-pg-")
    os.rmdir(data_dir)  # pgserver wants to create the directory itself
    server = pgserver.get_server(data_dir, cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a real server on which the tests may create and drop databases."""
    if not _truthy(os.environ.get(FORCE_PGSERVER_VARIABLE)):
        configured = os.environ.get(TEST_URL_VARIABLE, "").strip()
        if configured:
            yield configured
            return
        if _reachable(LOCAL_SERVER_URL):
            yield LOCAL_SERVER_URL
            return
    with _embedded_server() as url:
        yield url


@contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """A new empty database on the server for the duration of the block; its URL."""
    name = f"segue_test_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """URL of a fresh database for this test module, dropped when the module is done."""
    with temporary_database(postgres_server_url) as url:
        yield url
