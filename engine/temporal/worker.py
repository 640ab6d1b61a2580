"""`segue worker`: a Temporal worker for the interpreter workflow and Segue's activities."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from engine.actions.catalog import ActionCatalog
from engine.coordinator.payloads import MAX_PAYLOAD_BYTES
from engine.store._db import StorePool
from engine.store.claims import PostgresClaims
from engine.store.workflows import get_compiled_form
from engine.temporal.activities import HEARTBEAT_EVERY, SegueActivities, directory_lookup
from engine.temporal.claim_check import ClaimSettings
from engine.temporal.codec import CodecConfigError, CodecKeys, converter_from_env, data_converter
from engine.temporal.compiled import (
    configure_action_retry_defaults,
    configure_local_actions,
    configure_secret_inputs,
)
from engine.temporal.interpreter import Interpreter
from engine.temporal.limit_reaper import run_reaper
from engine.temporal.metrics import prometheus_runtime
from engine.temporal.otel import TracingConfigError, install_tracing, tracing_plugins
from engine.temporal.spec_warmer import FormSource, with_spec_warming
from engine.temporal.types import DEFAULT_TASK_QUEUE

# Apart from the worker so that `segue --help` imports no SDK (kept importable from here).
from engine.temporal.worker_config import WorkerConfig, WorkerConfigError

log = logging.getLogger("segue.worker")

# Modules the workflow sandbox must not re-import per run: our deterministic engine core
# and the pure libraries it uses (jsonata-python fails inside the sandbox otherwise).
PASSTHROUGH = (
    "engine",
    "jsonata",
    "yaml",
    "jsonschema",
    "jsonschema_specifications",
    "jsonschema_rs",
    "referencing",
    "rpds",
    "attrs",
    "msgspec",
    "re2",
    # One tracer provider for the process (engine/temporal/run_spans.py): not re-imported.
    "opentelemetry",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


async def connect(
    address: str,
    namespace: str = "default",
    *,
    attempts: int = 50,
    runtime: Runtime | None = None,
    data_converter: DataConverter | None = None,
) -> Client:
    """Connect to Temporal, retrying while a just-started server comes up. Payloads are
    encrypted when the environment sets codec keys (engine/temporal/codec.py)."""
    converter = data_converter or converter_from_env()
    for attempt in range(attempts):
        try:
            return await Client.connect(
                address,
                namespace=namespace,
                data_converter=converter,
                runtime=runtime,
                # With tracing on: spans of runs, task executions and attempts (otel.py).
                plugins=tracing_plugins(),
            )
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


def stored_forms(pool: StorePool | None) -> FormSource | None:
    """Where the spec warmer reads compiled forms: the store's, when there is one."""
    return None if pool is None else functools.partial(get_compiled_form, pool)


def store_converter(
    pool: StorePool | None, keys: CodecKeys | None = None
) -> tuple[DataConverter, int]:
    """The data converter of a worker with (or without) the store, and the largest action
    result it accepts. With the store, payloads over the threshold travel by reference
    (engine/temporal/claim_check.py) and results may reach the larger cap; without it they
    stay inline, at most 1 MiB, as before. Every process of a deployment must agree: one
    without the store cannot read a reference. `keys` (`segue dev`'s own key file) win
    over the environment's codec keys."""
    claims = PostgresClaims(pool) if pool is not None else None
    try:
        settings = ClaimSettings.from_env()
        if keys is None:
            converter = converter_from_env(claims=claims)
        else:
            converter = data_converter(keys, claims, settings)
    except CodecConfigError as error:
        raise WorkerConfigError(str(error)) from None
    claimed = claims is not None and settings.threshold > 0
    return converter, settings.max_result if claimed else MAX_PAYLOAD_BYTES


def build_worker(
    client: Client,
    activities: SegueActivities,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    max_concurrent_activities: int = 200,
    workflow_task_executor: ThreadPoolExecutor | None = None,
) -> Worker:
    """The worker of the interpreter workflow and `activities`. `workflow_task_executor`:
    where workflow tasks run (the simulate harness holds them at a gate; None: the SDK's
    own)."""
    configure_action_retry_defaults(activities.catalog.retry_defaults())
    configure_local_actions(activities.catalog.local_actions())
    configure_secret_inputs(activities.catalog.secret_inputs())
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[Interpreter],
        activities=activities.all(),
        workflow_runner=workflow_runner(),
        workflow_task_executor=workflow_task_executor,
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=10),
        # Heartbeats of attempts without a heartbeat timeout would otherwise reach the
        # server at most every 30 s, and with them the news of a cancellation.
        default_heartbeat_throttle_interval=timedelta(seconds=HEARTBEAT_EVERY),
    )


async def run_worker(config: WorkerConfig, *, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT, then finish the tasks in hand and stop."""
    install_tracing("segue-worker")  # per the OTEL_* variables; off when they are unset
    catalog = ActionCatalog.from_environment(allow_shell=config.allow_shell)
    for problem in catalog.problems:
        log.warning("action plugin problem: %s", problem)
    runtime = None
    if config.metrics_address:
        # Segue's run metrics and Temporal's worker metrics, at /metrics (metrics.py).
        try:
            runtime = prometheus_runtime(config.metrics_address)
        except ValueError as error:  # the SDK's words: "invalid socket address syntax"
            raise WorkerConfigError(
                f"metrics address {config.metrics_address[:80]!r} (an IP address and port, "
                f"e.g. 0.0.0.0:9464): {error}"
            ) from None
        log.info("metrics at http://%s/metrics", config.metrics_address)
    trace_sink = None
    lookup = directory_lookup(config.workflows_dir) if config.workflows_dir else None
    pool = None
    task_logs = None
    if config.database_url:
        from engine.temporal.store_sink import StoreTaskLogs, store_bindings

        pool, trace_sink, store_lookup = await store_bindings(config.database_url)
        lookup = lookup or store_lookup
        task_logs = StoreTaskLogs(pool)
    converter, max_result = store_converter(pool)
    client = await connect(
        config.address,
        config.namespace,
        runtime=runtime,
        # With the store, the warmer loads registration's compiled forms (spec_warmer.py).
        data_converter=with_spec_warming(converter, stored_forms(pool)),
    )
    meter = runtime.metric_meter if runtime is not None else None
    activities = SegueActivities(
        catalog,
        trace_sink=trace_sink,
        workflow_lookup=lookup,
        meter=meter,
        task_logs=task_logs,
        limit_store=pool,
        max_result_bytes=max_result,
    )
    worker = build_worker(
        client,
        activities,
        task_queue=config.task_queue,
        max_concurrent_activities=config.max_concurrent_activities,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        log.info("worker on task queue %r at %s", config.task_queue, config.address)
        # Slots of runs that cannot release them (terminated) go back to the waiters.
        reaper = asyncio.create_task(run_reaper(client, pool, meter)) if pool else None
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("shutting down: finishing the tasks in hand")
        if reaper is not None:
            reaper.cancel()
    if pool is not None:
        await pool.close()


def worker_main(args: argparse.Namespace) -> int:
    """`segue worker`: run until SIGTERM/SIGINT."""
    config = WorkerConfig.from_env()
    config.address = args.address
    config.namespace = args.namespace
    config.task_queue = args.task_queue
    config.max_concurrent_activities = args.concurrency
    config.allow_shell = args.allow_shell
    config.workflows_dir = args.workflows
    config.metrics_address = args.metrics_address
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(run_worker(config))
    except (TracingConfigError, WorkerConfigError) as error:
        log.error("segue worker: %s", error)
        return 2
    return 0
