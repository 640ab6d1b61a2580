"""`segue dev`: the embedded default, everything on loopback in one command.

A Temporal dev server (SQLite file under the data dir), PostgreSQL (SEGUE_DATABASE_URL,
else an embedded server whose files live under the data dir), the API (auth off, loopback
only), a worker, and a small demo service that turns healthy after a few polls, for the
monitoring example. Ctrl-C stops all of it; a second start reuses the data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn

from engine.actions import egress
from engine.actions.catalog import ActionCatalog
from engine.actions.egress import EgressPolicy, Endpoint
from engine.language.loader import check_workflow_file
from engine.store import StorePool, open_pool, register_workflow_version
from engine.temporal.activities import SegueActivities
from engine.temporal.devserver import DevServer, free_port, start_dev_server
from engine.temporal.store_sink import trace_sink, workflow_lookup
from engine.temporal.worker import build_worker, connect

log = logging.getLogger("segue.dev")


class _QuietServer(uvicorn.Server):
    """Leaves signals to `segue dev`, which stops the worker and servers in order."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


DEFAULT_API_PORT = 8000
DEFAULT_TEMPORAL_PORT = 7233
DEFAULT_UI_PORT = 8233
DEFAULT_DEMO_PORT = 8090


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

    @classmethod
    def from_env(cls) -> DevSettings:
        workflows = Path("workflows")
        return cls(
            data_dir=Path(os.environ.get("SEGUE_DATA_DIR", ".segue")).resolve(),
            workflows_dir=workflows if workflows.is_dir() else None,
            database_url=os.environ.get("SEGUE_DATABASE_URL") or None,
        )


@dataclass
class DevUrls:
    api: str
    openapi: str
    temporal: str
    temporal_ui: str | None
    database: str
    demo: str


def _port_or_free(port: int) -> int:
    """The preferred port if nothing listens on it, else a free one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sock.connect_ex(("127.0.0.1", port)) != 0:
            return port
    return free_port()


class _DemoHealth(BaseHTTPRequestHandler):
    """`GET /health/<name>`: 503 twice, then 200, then again from the start (per name)."""

    counts: dict[str, int] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            seen = self.counts.get(self.path, 0) + 1
            self.counts[self.path] = seen % 3
        healthy = seen % 3 == 0
        body = json.dumps({"healthy": healthy, "poll": seen}).encode()
        self.send_response(200 if healthy else 503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


@contextmanager
def demo_service(port: int) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _DemoHealth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """A PostgreSQL server whose data lives under the data dir (pgserver)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]

    pgdata = data_dir / "postgres"
    server = get_server(str(pgdata), cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@contextmanager
def temporal_server(settings: DevSettings) -> Iterator[DevServer]:
    # A known HTTP API port, so that the egress policy can keep actions away from it.
    settings.temporal_http_port = free_port()
    server = start_dev_server(
        db_file=settings.data_dir / "temporal.db",
        port=_port_or_free(settings.temporal_port),
        ui=True,
        ui_port=_port_or_free(settings.ui_port),
        log_path=settings.data_dir / "temporal.log",
        extra_args=["--http-port", str(settings.temporal_http_port)],
    )
    try:
        yield server
    finally:
        server.stop()


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
async def running_worker(address: str, pool: StorePool) -> AsyncIterator[None]:
    client = await connect(address)
    activities = SegueActivities(
        ActionCatalog.from_environment(),
        trace_sink=trace_sink(pool),
        workflow_lookup=workflow_lookup(pool),
    )
    async with build_worker(client, activities):
        yield


_STOPPERS: list[Any] = []


def request_stop() -> None:
    """Stop a stack started in another thread (`segue run` with no API running)."""
    for stopper in _STOPPERS:
        stopper()
    _STOPPERS.clear()


async def serve(
    settings: DevSettings,
    database_url: str,
    temporal: DevServer,
    demo: str,
    *,
    handle_signals: bool,
) -> None:
    """Run the API and the worker until Ctrl-C or SIGTERM."""
    from api.app import create_app
    from api.config import ApiConfig

    pool = await open_pool(database_url)
    try:
        registered = (
            await register_catalog(pool, settings.workflows_dir) if settings.workflows_dir else []
        )
        config = ApiConfig.from_env(
            database_url=database_url,
            temporal_address=temporal.address,
            auth_disabled=True,
            tokens=(),
        )
        api_port = _port_or_free(settings.api_port)
        egress.configure(dev_egress_policy(settings, temporal, database_url, api_port))
        from api.http_server import server_config

        server = _QuietServer(
            server_config(create_app(config), "127.0.0.1", api_port, log_level="warning")
        )
        urls = DevUrls(
            api=f"http://127.0.0.1:{api_port}",
            openapi=f"http://127.0.0.1:{api_port}/schema/openapi.json",
            temporal=temporal.address,
            temporal_ui=temporal.ui_url,
            database=database_url,
            demo=f"{demo}/health/<name>",
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        _STOPPERS.append(lambda: loop.call_soon_threadsafe(stop.set))
        if handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
        async with running_worker(temporal.address, pool):
            api_task = asyncio.create_task(server.serve())
            while not server.started and not api_task.done():
                await asyncio.sleep(0.05)
            _announce(urls, registered, settings.data_dir, embedded=not handle_signals)
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({api_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            print("\nsegue dev: stopping…", file=sys.stderr, flush=True)
            server.should_exit = True
            with contextlib.suppress(Exception):
                await api_task
            stopper.cancel()
    finally:
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


def _announce(urls: DevUrls, registered: list[str], data_dir: Path, *, embedded: bool) -> None:
    lines = [
        "segue dev is running (Ctrl-C stops everything)",
        f"  API           {urls.api}      (SEGUE_API_URL for `segue run`)",
        f"  OpenAPI       {urls.openapi}",
        f"  Temporal      {urls.temporal}",
        f"  Temporal UI   {urls.temporal_ui}",
        f"  PostgreSQL    {urls.database}",
        f"  demo service  {urls.demo}   (503, 503, 200, … per name)",
        f"  data          {data_dir}",
        "  egress        actions may reach loopback (127.0.0.0/8, ::1) for the examples;"
        " the stack's own ports stay closed",
    ]
    if registered:
        lines.append(f"  workflows     {', '.join(registered)}")
    # Embedded in `segue run`, whose standard output is the run's output alone.
    print("\n".join(lines), file=sys.stderr if embedded else sys.stdout, flush=True)
    (data_dir / "api-url").write_text(urls.api)


def dev_main(settings: DevSettings | None = None, *, handle_signals: bool = True) -> int:
    """`segue dev`: start everything, serve until interrupted, stop everything."""
    settings = settings or DevSettings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    for chatty in ("pgserver", "httpx", "temporalio"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    with contextlib.ExitStack() as stack:
        temporal = stack.enter_context(temporal_server(settings))
        if settings.database_url:
            database_url = settings.database_url
        else:
            database_url = stack.enter_context(embedded_postgres(settings.data_dir))
        demo = stack.enter_context(demo_service(_port_or_free(settings.demo_port)))
        asyncio.run(serve(settings, database_url, temporal, demo, handle_signals=handle_signals))
    with contextlib.suppress(FileNotFoundError):
        (settings.data_dir / "api-url").unlink()
    return 0
