"""What the route handlers share in one API process: the store's pool, the Temporal
client, the trace hub, the action catalog and compiled workflow versions.

The API starts even when PostgreSQL or Temporal is down (it is stateless; a restart
order between services should not matter): requests that need the missing part answer
503 until it is back, and `/health` says which part is missing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from datetime import timedelta

import psycopg
from temporalio.client import Client

from api.config import ApiConfig
from api.correlation import EventKeyRules
from api.problems import StoreUnavailable
from api.stream_limits import EndChecks, StreamLimits
from api.streaming import TraceHub
from engine.actions.catalog import ActionCatalog
from engine.coordinator.program import WorkflowProgram
from engine.language.loader import load_workflow
from engine.store import StoreError, StorePool, WorkflowVersion, open_pool
from engine.temporal.converter import DATA_CONVERTER

log = logging.getLogger("segue.api")

_RECONNECT_SECONDS = 2.0
_SPEC_CACHE_SIZE = 256


class StoreHandle:
    """The process's connection pool, opened at start-up or, if the database is down
    then, by a background task that keeps trying."""

    def __init__(self, url: str, *, timeout_seconds: float, max_size: int) -> None:
        self.url = url
        self._timeout = timeout_seconds
        self._max_size = max_size
        self._pool: StorePool | None = None
        self._opener: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    @property
    def pool(self) -> StorePool:
        """The open pool; `StoreUnavailable` (503) while there is none."""
        if self._pool is None:
            raise StoreUnavailable("the database was not reachable at start-up")
        return self._pool

    async def start(self) -> None:
        if not await self._try_open():
            self._opener = asyncio.create_task(self._keep_trying(), name="segue-store-open")

    async def _try_open(self) -> bool:
        try:
            # A quick probe first: the pool itself would wait 30 s for a dead server.
            probe = await psycopg.AsyncConnection.connect(self.url, connect_timeout=3)
            await probe.close()
            pool = await open_pool(self.url, max_size=self._max_size)
        except (psycopg.Error, OSError) as error:
            log.warning("database unavailable (%s); retrying in the background", error)
            return False
        pool.timeout = self._timeout  # a request waits this long for a connection
        self._pool = pool
        self.ready.set()
        return True

    async def _keep_trying(self) -> None:
        try:
            while not await self._try_open():
                await asyncio.sleep(_RECONNECT_SECONDS)
        except StoreError as error:  # e.g. migrations that disagree: retrying cannot help
            log.error("the store cannot be opened: %s", error)

    async def close(self) -> None:
        if self._opener is not None:
            self._opener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._opener
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class CompiledVersions:
    """Workflow versions compiled once per process (versions are immutable). The cache
    lives on the event loop; only the compiling runs in a thread."""

    def __init__(self, size: int = _SPEC_CACHE_SIZE) -> None:
        self._size = size
        self._programs: OrderedDict[str, WorkflowProgram] = OrderedDict()

    async def program(self, version: WorkflowVersion) -> WorkflowProgram:
        key = f"{version.name}\x00{version.content_hash}"
        found = self._programs.get(key)
        if found is not None:
            self._programs.move_to_end(key)
            return found
        found = await asyncio.to_thread(_compile, version)
        self._programs[key] = found
        if len(self._programs) > self._size:
            self._programs.popitem(last=False)
        return found


def _compile(version: WorkflowVersion) -> WorkflowProgram:
    spec = load_workflow(version.yaml, f"{version.name}.yaml", name=version.name)
    return WorkflowProgram(spec)


class Services:
    """Everything a request may need, created by `create_app` and opened in its lifespan."""

    def __init__(self, config: ApiConfig, catalog: ActionCatalog | None = None) -> None:
        self.config = config
        self.catalog = catalog if catalog is not None else ActionCatalog.from_environment()
        self.store = StoreHandle(
            config.database_url,
            timeout_seconds=config.store_timeout_seconds,
            max_size=config.pool_max_size,
        )
        self.hub = TraceHub(
            config.database_url, self.store.ready, poll_seconds=config.sse_poll_seconds
        )
        self.streams = StreamLimits(config.sse_max_streams_per_client, config.sse_max_streams)
        self.end_checks = EndChecks(config.sse_idle_check_seconds)
        self.versions = CompiledVersions()
        self.event_keys = EventKeyRules(config.event_keys)
        self._client: Client | None = None
        self.temporal_timeout = timedelta(seconds=config.temporal_timeout_seconds)
        self.query_timeout = timedelta(seconds=config.query_timeout_seconds)

    @property
    def pool(self) -> StorePool:
        return self.store.pool

    @property
    def temporal(self) -> Client:
        """The Temporal client (connected lazily: calls fail with `TemporalUnavailable`)."""
        if self._client is None:
            raise RuntimeError("Services.start() has not run")
        return self._client

    async def start(self) -> None:
        self._client = await Client.connect(
            self.config.temporal_address,
            namespace=self.config.temporal_namespace,
            lazy=True,
            data_converter=DATA_CONVERTER,
        )
        await self.store.start()
        self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        await self.store.close()
