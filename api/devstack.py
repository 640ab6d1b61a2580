"""`segue dev`: the embedded default, everything on loopback in one command.

A Temporal dev server (SQLite file under the data dir), PostgreSQL (SEGUE_DATABASE_URL,
else an embedded server whose files live under the data dir), the API (auth off, loopback
only), a worker, and a small demo service that turns healthy after a few polls, for the
examples. Payloads are encrypted with a key kept in the data dir (api.dev_codec), and the
Temporal UI decodes them through the API's codec routes. Ctrl-C, SIGTERM or SIGHUP
stops all of it; a second start reuses the data.

Nothing outlives it: a lock makes it the only stack of its data directory, a guardian
process (api.guardian) stops the servers if it dies without doing so, and the next start
cleans up after an unclean exit (api.stackstate).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import uvicorn

from api.demo_service import demo_service
from api.dev_codec import DevCodec, dev_codec_keys
from api.dev_logging import route_logs
from api.dev_options import (
    DEFAULT_API_PORT,
    DEFAULT_DEMO_PORT,
    DEFAULT_TEMPORAL_PORT,
    DEFAULT_UI_PORT,
)
from api.guardian import Guardian, ServerProcess
from api.stackstate import (
    DataDirLock,
    StackRecord,
    StackRunning,
    clean_leftovers,
    publish,
    withdraw,
)
from engine.actions import egress
from engine.actions.catalog import ActionCatalog
from engine.actions.egress import EgressPolicy, Endpoint
from engine.language.loader import check_workflow_file
from engine.store import StorePool, open_pool, register_workflow_version
from engine.temporal.activities import SegueActivities
from engine.temporal.codec import CodecConfigError, CodecKeys
from engine.temporal.devserver import DevServer, free_port, launch_dev_server
from engine.temporal.limit_reaper import run_reaper
from engine.temporal.spec_warmer import with_spec_warming
from engine.temporal.store_sink import StoreTaskLogs, trace_sink, workflow_lookup
from engine.temporal.worker import build_worker, connect, store_converter, stored_forms

log = logging.getLogger("segue.dev")


class _QuietServer(uvicorn.Server):
    """Leaves signals to `segue dev`, which stops the worker and servers in order."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class DevSettings:
    data_dir: Path
    workflows_dir: Path | None
    api_port: int = DEFAULT_API_PORT
    temporal_port: int = DEFAULT_TEMPORAL_PORT
    ui_port: int = DEFAULT_UI_PORT
    demo_port: int = DEFAULT_DEMO_PORT
    database_url: str | None = None
    temporal_http_port: int | None = None
    codec: DevCodec | None = None  # set at start (dev_codec_keys)

    @classmethod
    def from_env(cls, data_dir: str | None = None) -> DevSettings:
        workflows = Path("workflows")
        return cls(
            data_dir=Path(data_dir or os.environ.get("SEGUE_DATA_DIR", ".segue")).resolve(),
            workflows_dir=workflows if workflows.is_dir() else None,
            database_url=os.environ.get("SEGUE_DATABASE_URL") or None,
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DevSettings:
        settings = cls.from_env(args.data_dir)
        settings.api_port, settings.temporal_port = args.port, args.temporal_port
        settings.ui_port, settings.demo_port = args.ui_port, args.demo_port
        return settings

    def ports(self) -> dict[str, tuple[str, int]]:
        """Each port by its flag, with what it serves."""
        return {
            "--port": ("API", self.api_port),
            "--temporal-port": ("Temporal", self.temporal_port),
            "--ui-port": ("Temporal UI", self.ui_port),
            "--demo-port": ("demo service", self.demo_port),
        }


@dataclass
class DevUrls:
    api: str
    openapi: str
    temporal: str
    temporal_ui: str | None
    database: str
    demo: str
    codec_endpoint: str | None = None  # where the Temporal UI decodes payloads
    codec_key: str = "none"  # where the codec key comes from


class PortBusy(Exception):
    """A port `segue dev` was told to use is taken."""


def claim_ports(settings: DevSettings) -> None:
    """Check every port before starting anything; 0 becomes a free port."""
    busy = [
        f"port {port} ({what}) is in use by another process; free it, or choose another "
        f"with {flag} N (0: any free port)"
        for flag, (what, port) in settings.ports().items()
        if port != 0 and not _port_free(port)
    ]
    if busy:
        raise PortBusy("\n".join(busy))
    settings.api_port = settings.api_port or free_port()
    settings.temporal_port = settings.temporal_port or free_port()
    settings.ui_port = settings.ui_port or free_port()
    settings.demo_port = settings.demo_port or free_port()


def _port_free(port: int) -> bool:
    # SO_REUSEADDR as the servers set it: a socket in TIME_WAIT does not count as busy,
    # a listening one does.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def embedded_postgres(data_dir: Path, watch: Callable[[ServerProcess], None]) -> Iterator[str]:
    """A PostgreSQL server whose data lives under the data dir (pgserver)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]

    pgdata = data_dir / "postgres"
    server = None
    try:
        # A stop signal while PostgreSQL starts (a second or two) waits until its
        # postmaster is recorded, then stops it: never a server nobody knows of.
        with deferred_stop():
            server = get_server(str(pgdata), cleanup_mode="stop")
            pid = server.get_pid()
            if pid is not None:
                watch(ServerProcess.of(pid, "postgres", "PostgreSQL"))
        yield str(server.get_uri())
    finally:
        if server is not None:
            server.cleanup()


@contextmanager
def temporal_server(
    settings: DevSettings, watch: Callable[[ServerProcess], None]
) -> Iterator[DevServer]:
    """The Temporal dev server, watched by the guardian from the moment it is spawned:
    a stop signal in its ~1 s readiness wait stops it, and so does the guardian if
    `segue dev` is killed then."""
    # A known HTTP API port, so that the egress policy can keep actions away from it.
    settings.temporal_http_port = free_port()
    server: DevServer | None = None
    try:
        # Between spawning and recording the process a signal must not unwind: it would
        # leave a server nobody knows of. It is raised once the process is recorded.
        with deferred_stop():
            server = launch_dev_server(
                db_file=settings.data_dir / "temporal.db",
                port=settings.temporal_port,
                ui=True,
                ui_port=settings.ui_port,
                log_path=settings.data_dir / "temporal.log",
                extra_args=[
                    "--http-port",
                    str(settings.temporal_http_port),
                    # The UI decodes payloads through the API (the browser calls it).
                    "--ui-codec-endpoint",
                    codec_endpoint(settings),
                ],
            )
            watch(ServerProcess.of(server.process.pid, "group", "Temporal server"))
        server.wait_ready()
        yield server
    finally:
        if server is not None:
            server.stop()


def codec_endpoint(settings: DevSettings) -> str:
    """The API's codec routes, as the Temporal UI is told of them (the trailing slash:
    the UI resolves `decode` relative to it)."""
    return f"http://127.0.0.1:{settings.api_port}/codec/"


async def register_catalog(pool: StorePool, directory: Path) -> list[str]:
    """Register every valid `<name>.yaml` of the directory; problems are printed."""
    registered = []
    for path in sorted(directory.glob("*.yaml")):
        loaded = check_workflow_file(str(path))
        if loaded.spec is None:
            for diagnostic in loaded.errors:
                print(diagnostic.format(), file=sys.stderr)
            continue
        version = await register_workflow_version(
            pool, path.stem, path.read_text(encoding="utf-8"), loaded.spec.content_hash
        )
        registered.append(f"{path.stem} v{version.version}")
    return registered


@asynccontextmanager
async def running_worker(
    address: str, pool: StorePool, keys: CodecKeys | None
) -> AsyncIterator[None]:
    # The API in this process passes large payloads by reference: so must its worker.
    converter, max_result = store_converter(pool, keys)
    client = await connect(address, data_converter=with_spec_warming(converter, stored_forms(pool)))
    activities = SegueActivities(
        ActionCatalog.from_environment(),
        trace_sink=trace_sink(pool),
        workflow_lookup=workflow_lookup(pool),
        task_logs=StoreTaskLogs(pool),
        max_result_bytes=max_result,
        # Concurrency limits need the store (without it a limited run fails at once).
        limit_store=pool,
    )
    async with build_worker(client, activities):
        # As `segue worker`: slots of runs that cannot release them go back to waiters.
        reaper = asyncio.create_task(run_reaper(client, pool))
        try:
            yield
        finally:
            reaper.cancel()


_STOPPERS: list[Any] = []
# Set by `request_stop` before the stack has started serving: it stops as soon as it does.
_STOP_EARLY = threading.Event()


def request_stop() -> None:
    """Stop a stack started in another thread (`segue run` with no API running)."""
    _STOP_EARLY.set()
    for stopper in _STOPPERS:
        stopper()
    _STOPPERS.clear()


class StopRequested(KeyboardInterrupt):
    """SIGTERM or SIGHUP while the stack starts or stops: unwind as Ctrl-C does."""


# Stop signals received inside `deferred_stop`, raised when it ends (None: not deferring).
_deferred_signals: list[int] | None = None


def _raise_stop(signum: int, _frame: object) -> None:
    if _deferred_signals is not None:
        _deferred_signals.append(signum)
        return
    raise StopRequested(signal.Signals(signum).name)


@contextmanager
def deferred_stop() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP (as `segue dev` handles them) for the block, and
    raise the first one received when it ends. Only for short steps that must finish
    together, such as starting a process and recording it."""
    global _deferred_signals
    outer, _deferred_signals = _deferred_signals, []
    try:
        yield
    finally:
        held, _deferred_signals = _deferred_signals, outer
    if held:
        raise StopRequested(signal.Signals(held[0]).name)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


async def serve(
    settings: DevSettings,
    database_url: str,
    temporal: DevServer,
    demo: str,
    record: StackRecord,
    *,
    handle_signals: bool,
) -> None:
    """Run the API and the worker until Ctrl-C, SIGTERM or SIGHUP."""
    from api.app import create_app
    from api.config import ApiConfig

    loop = asyncio.get_running_loop()
    pool = await open_pool(database_url)
    try:
        registered = (
            await register_catalog(pool, settings.workflows_dir) if settings.workflows_dir else []
        )
        keys = settings.codec.keys if settings.codec else None
        config = ApiConfig.from_env(
            database_url=database_url,
            temporal_address=temporal.address,
            auth_disabled=True,
            tokens=(),
            codec_keys=keys,
            # The dev UI's origin, as the banner names it: granted CORS on /codec/ only.
            temporal_ui_origin=temporal.ui_url,
        )
        egress.configure(dev_egress_policy(settings, temporal, database_url, settings.api_port))
        from api.http_server import ServerLimits, server_config

        app = create_app(config)
        route_logs(settings.data_dir / "segue.log")  # Litestar configured logging its way
        server = _QuietServer(
            server_config(
                app,
                "127.0.0.1",
                settings.api_port,
                limits=ServerLimits.from_env(),
                log_level="warning",
            )
        )
        urls = DevUrls(
            api=f"http://127.0.0.1:{settings.api_port}",
            openapi=f"http://127.0.0.1:{settings.api_port}/schema/openapi.json",
            temporal=temporal.address,
            temporal_ui=temporal.ui_url,
            database=database_url,
            demo=f"{demo}/health/<name>",
            codec_endpoint=codec_endpoint(settings),
            codec_key=settings.codec.source if settings.codec else "none",
        )
        stop = asyncio.Event()
        _STOPPERS.append(lambda: loop.call_soon_threadsafe(stop.set))
        if _STOP_EARLY.is_set():
            stop.set()
        if handle_signals:
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, stop.set)
        async with running_worker(temporal.address, pool, keys):
            api_task = asyncio.create_task(server.serve())
            while not server.started and not api_task.done():
                await asyncio.sleep(0.05)
            if api_task.done():
                raise RuntimeError(f"the API did not start on port {settings.api_port}")
            record.api, record.demo, record.temporal = urls.api, demo, temporal.address
            publish(record)
            _announce(urls, registered, settings.data_dir, embedded=not handle_signals)
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({api_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            _say("\nsegue dev: stopping…", embedded=True)
            server.should_exit = True
            with contextlib.suppress(Exception):
                await api_task
            stopper.cancel()
    finally:
        if handle_signals:
            # Until the servers are stopped, a second signal unwinds the same way.
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
                signal.signal(signum, _raise_stop)
        await pool.close()


def dev_egress_policy(
    settings: DevSettings, temporal: DevServer, database_url: str, api_port: int
) -> EgressPolicy:
    """The environment's policy with loopback opened (the examples poll a service on
    127.0.0.1), and the stack's own loopback services closed: Temporal (gRPC, HTTP API,
    UI), PostgreSQL and the API, which serves without a token here."""
    own = [Endpoint("127.0.0.1", temporal.port), Endpoint("127.0.0.1", api_port)]
    for port in (temporal.ui_port, settings.temporal_http_port):
        if port:
            own.append(Endpoint("127.0.0.1", port))
    environ = {**os.environ, "SEGUE_DATABASE_URL": database_url}
    return EgressPolicy.from_env(environ).allowing_loopback().denying(own)


def _say(text: str, *, embedded: bool) -> None:
    # After a hang-up the terminal is gone: writing to it must not stop the clean-up.
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr if embedded else sys.stdout, flush=True)


def _announce(urls: DevUrls, registered: list[str], data_dir: Path, *, embedded: bool) -> None:
    endpoint = urls.codec_endpoint
    decodes = f"      (decodes payloads through {endpoint})" if endpoint else ""
    lines = [
        "segue dev is running (Ctrl-C stops everything)",
        f"  console       {urls.api}/      (the run console, in a browser)",
        f"  API           {urls.api}      (found by `segue run` from any directory)",
        f"  OpenAPI       {urls.openapi}",
        f"  Temporal      {urls.temporal}",
        f"  Temporal UI   {urls.temporal_ui}{decodes}",
        f"  PostgreSQL    {urls.database}",
        f"  demo service  {urls.demo}   (503, 503, 200, … per name)",
        f"  data          {data_dir}",
        "  egress        actions may reach loopback (127.0.0.0/8, ::1) for the examples;"
        " the stack's own ports stay closed",
        f"  log           {data_dir / 'segue.log'}",
        f"  codec key     {urls.codec_key}   (Temporal stores payloads encrypted with it)",
    ]
    if registered:
        lines.append(f"  workflows     {', '.join(registered)}")
    # Embedded in `segue run`, whose standard output is the run's output alone.
    _say("\n".join(lines), embedded=embedded)


def dev_main(settings: DevSettings | None = None, *, handle_signals: bool = True) -> int:
    """`segue dev`: start everything, serve until interrupted, stop everything."""
    settings = settings or DevSettings.from_env()
    route_logs(settings.data_dir / "segue.log")
    try:
        lock = DataDirLock(settings.data_dir)
    except StackRunning as running:
        print(f"segue dev: {running}", file=sys.stderr)
        return 1
    try:
        for line in clean_leftovers(settings.data_dir):
            print(f"segue dev: {line}", file=sys.stderr)
        claim_ports(settings)
        settings.codec = dev_codec_keys(settings.data_dir)
    except (PortBusy, CodecConfigError) as refused:
        lock.release()
        for line in str(refused).splitlines():
            print(f"segue dev: {line}", file=sys.stderr)
        return 1
    if handle_signals:
        for signum in STOP_SIGNALS:
            signal.signal(signum, _raise_stop)
    guardian = Guardian(settings.data_dir / "guardian.log")
    record = StackRecord.for_this_process(settings.data_dir)

    def watch(server: ServerProcess) -> None:
        guardian.watch(server)
        record.servers.append(asdict(server))
        publish(record)

    try:
        with contextlib.ExitStack() as stack:
            temporal = stack.enter_context(temporal_server(settings, watch))
            if settings.database_url:
                database_url = settings.database_url
            else:
                database_url = stack.enter_context(embedded_postgres(settings.data_dir, watch))
            demo = stack.enter_context(demo_service(settings.demo_port))
            asyncio.run(
                serve(settings, database_url, temporal, demo, record, handle_signals=handle_signals)
            )
    except StopRequested:
        pass  # the servers are stopped: the ExitStack has unwound
    except Exception as error:
        # One line on the terminal (route_logs), the traceback in the log file.
        log.exception("the stack stopped on an unexpected error: %s", error)
        return 1
    finally:
        withdraw(settings.data_dir)
        guardian.close()
        lock.release()
    return 0
