"""Fixtures for tests against the real Temporal dev server (never a fake).

One dev server per test session (or SEGUE_TEMPORAL_ADDRESS), and one background event
loop in a thread, so that workers keep polling between tests while each test submits
its coroutines with `loop.run(...)`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

from engine.temporal.devserver import DevServer, start_dev_server

T = TypeVar("T")


class BackgroundLoop:
    """An asyncio loop running in its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a running Temporal dev server."""
    given = os.environ.get("SEGUE_TEMPORAL_ADDRESS")
    if given:
        yield given
        return
    directory: Path = tmp_path_factory.mktemp("temporal")
    server: DevServer = start_dev_server(
        db_file=directory / "temporal.db", log_path=directory / "server.log"
    )
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="session")
def background_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    try:
        yield loop
    finally:
        loop.close()
