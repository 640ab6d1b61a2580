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
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Final, TypeVar

import psycopg
from temporalio.client import Client

from api import cpu_work, what_if
from api.config import ApiConfig
from api.correlation import EventKeyRules
from api.cpu_pool import CpuDeadlineExceeded, CpuPool, CpuPoolBusy
from api.metrics import count_streams
from api.problems import ApiProblem, StoreUnavailable
from api.sessions import CodecSessions
from api.stream_limits import EndChecks, StreamLimits
from api.streaming import TraceHub
from engine.actions.catalog import ActionCatalog
from engine.coordinator.program import InputProblem, WorkflowProgram
from engine.language.loader import load_workflow
from engine.store import (
    LOG_CHANNEL,
    StoreError,
    StorePool,
    WorkflowVersion,
    list_workflows,
    open_pool,
)
from engine.store.claims import PostgresClaims
from engine.temporal.codec import data_converter
from engine.temporal.otel import tracing_plugins

log = logging.getLogger("segue.api")

_RECONNECT_SECONDS = 2.0
_SPEC_CACHE_SIZE = 256
# CPU deadlines (docs/reliability.md "Limits"): a run input is a small document, checked
# in milliseconds unless its schema is costly; the largest workflow file registration
# accepts is checked in a few seconds (benchmarks/compile.py).
INPUT_DEADLINE_SECONDS: Final = 2.0
CHECK_DEADLINE_SECONDS: Final = 20.0
T = TypeVar("T")


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
        # Task logs have their own notifications (engine/store/logs.py).
        self.log_hub = TraceHub(
            config.database_url,
            self.store.ready,
            poll_seconds=config.sse_poll_seconds,
            channel=LOG_CHANNEL,
        )
        self.streams = StreamLimits(config.sse_max_streams_per_client, config.sse_max_streams)
        count_streams(self.streams)
        self.end_checks = EndChecks(config.sse_idle_check_seconds)
        self.versions = CompiledVersions()
        self.cpu = CpuPool()
        self.action_names = cpu_work.ActionNameSet(
            tuple(self.catalog.names()),
            frozenset(n for n in self.catalog.names() if self.catalog.runs_in_workflow(n)),
        )
        self.event_keys = EventKeyRules(config.event_keys)
        self._client: Client | None = None
        # This deployment's payloads: encrypted with keys, large ones by reference to a
        # blob in the database (engine/temporal/claim_check.py); the same codec serves
        # the /codec routes (None: neither is on).
        self.converter = data_converter(
            config.codec_keys, PostgresClaims(lambda: self.store.pool), config.claim_settings
        )
        self.codec = self.converter.payload_codec
        # Codec session cookies (POST /session), signed with keys derived from the tokens.
        self.sessions = CodecSessions(config.tokens, config.codec_session_seconds)
        self._background: set[asyncio.Task[Any]] = set()
        # An export that reads a run's history replays it here (api/export.py): one at a
        # time, so export requests cannot take every core of the API process.
        self.history_reads = asyncio.Semaphore(1)
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
            data_converter=self.converter,
            # With tracing on, started runs carry the request's span (api/tracing.py).
            plugins=tracing_plugins(),
        )
        self.cpu.start()
        await self.cpu.warm(cpu_work.warm_up)
        await self.store.start()
        self.hub.start()
        self.log_hub.start()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        """Run `work` in the background for as long as the process serves (cancelled at
        stop): for what a request leaves to finish, e.g. a retry while Temporal is away."""
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.hub.stop()
        await self.log_hub.stop()
        await self.store.close()
        self.cpu.close()

    async def check_workflow(
        self, body: bytes, name: str, *, sketch: bool = False
    ) -> cpu_work.RegistrationCheck:
        """Registration's checks (`segue validate`'s), in a worker process; with `sketch`,
        the file's graph and each finding's task too (`POST /workflows/validate`)."""
        registered = frozenset(found.name for found in await list_workflows(self.pool))
        return await self._off_loop(
            "checking the workflow",
            CHECK_DEADLINE_SECONDS,
            cpu_work.check_for_validation if sketch else cpu_work.check_for_registration,
            body,
            name,
            self.action_names,
            registered,
        )

    async def prepare_input(
        self, version: WorkflowVersion, given: Any
    ) -> tuple[dict[str, Any], list[InputProblem]]:
        """The run input with defaults, and its schema violations, in a worker process."""
        return await self._off_loop(
            "validating the run input",
            INPUT_DEADLINE_SECONDS,
            cpu_work.prepare_input,
            version.name,
            version.yaml,
            version.content_hash,
            given,
        )

    async def what_if(
        self, version: WorkflowVersion, given_input: Any, raw_mocks: Any
    ) -> dict[str, Any]:
        """The simulated run of a version with these mocks (api/what_if.py), in a worker
        process; 422 INPUT_INVALID / MOCKS_INVALID / TOO_COSTLY as problems."""
        what_if.check_mocks_size(raw_mocks)
        answer = await self._off_loop(
            "simulating the run",
            what_if.SIMULATE_DEADLINE_SECONDS,
            what_if.simulate_version,
            version.name,
            version.yaml,
            version.content_hash,
            given_input,
            raw_mocks,
        )
        what_if.raise_refusal(answer)
        return {**answer, "version": version.version}

    async def _off_loop(self, what: str, seconds: float, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self.cpu.run(fn, *args, deadline_seconds=seconds)
        except CpuDeadlineExceeded:
            raise ApiProblem(
                422, "TOO_COSTLY", f"{what} took more than {seconds:g} s of CPU and was stopped"
            ) from None
        except CpuPoolBusy:
            raise ApiProblem(
                503,
                "BUSY",
                f"{what}: every checking process stayed busy for {seconds:g} s",
                headers={"Retry-After": "2"},
            ) from None
