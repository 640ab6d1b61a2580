"""`segue worker`'s configuration and flags, apart from the worker so that building the
`segue` parser imports neither the Temporal SDK nor the actions."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

# Defined here, not in engine.temporal.types (which re-exports it): importing that
# module's dataclasses cost every `segue` command several ms of start-up.
DEFAULT_TASK_QUEUE = "segue"


class WorkerConfigError(ValueError):
    """A worker setting that cannot work; the message names it."""


@dataclass
class WorkerConfig:
    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = DEFAULT_TASK_QUEUE
    max_concurrent_activities: int = 200
    allow_shell: bool = False
    workflows_dir: Path | None = None
    database_url: str | None = None
    metrics_address: str | None = None  # host:port for Prometheus (SEGUE_METRICS_ADDRESS)

    @classmethod
    def from_env(cls) -> WorkerConfig:
        return cls(
            address=os.environ.get("SEGUE_TEMPORAL_ADDRESS", cls.address),
            namespace=os.environ.get("SEGUE_TEMPORAL_NAMESPACE", cls.namespace),
            task_queue=os.environ.get("SEGUE_TASK_QUEUE", cls.task_queue),
            database_url=os.environ.get("SEGUE_DATABASE_URL"),
            metrics_address=os.environ.get("SEGUE_METRICS_ADDRESS"),
        )


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `segue worker`."""
    defaults = WorkerConfig.from_env()
    parser.add_argument("--address", default=defaults.address, help="Temporal frontend host:port")
    parser.add_argument("--namespace", default=defaults.namespace)
    parser.add_argument("--task-queue", default=defaults.task_queue)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=defaults.max_concurrent_activities,
        help="most activities this worker runs at once",
    )
    parser.add_argument("--allow-shell", action="store_true", help="enable the shell.run action")
    parser.add_argument(
        "--metrics-address",
        default=defaults.metrics_address,
        metavar="IP:PORT",
        help="serve Prometheus metrics at http://IP:PORT/metrics (SEGUE_METRICS_ADDRESS)",
    )
    parser.add_argument(
        "--workflows",
        type=Path,
        default=None,
        help="directory of <name>.yaml workflows for child runs (else the store)",
    )
