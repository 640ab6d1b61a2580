"""Where a worker serves /metrics: `--metrics-address` or SEGUE_METRICS_ADDRESS, and the
precise refusal of an address that cannot be served (before anything connects)."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from engine.temporal.worker import run_worker
from engine.temporal.worker_config import WorkerConfig, WorkerConfigError, add_worker_arguments


def _parsed(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_worker_arguments(parser)
    return parser.parse_args(argv)


def test_the_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGUE_METRICS_ADDRESS", "0.0.0.0:9464")
    assert _parsed([]).metrics_address == "0.0.0.0:9464"
    assert _parsed(["--metrics-address", "127.0.0.1:9000"]).metrics_address == "127.0.0.1:9000"
    monkeypatch.delenv("SEGUE_METRICS_ADDRESS")
    assert _parsed([]).metrics_address is None  # unset: nothing is served


@pytest.mark.parametrize(
    "address", ["nonsense", "localhost:9464", "127.0.0.1:99999", "127.0.0.1:-1", "x" * 5000]
)
def test_an_address_that_cannot_be_served_is_refused(address: str) -> None:
    config = WorkerConfig(address="127.0.0.1:1", metrics_address=address)
    with pytest.raises(WorkerConfigError, match=r"an IP address and port") as refused:
        asyncio.run(run_worker(config))
    assert len(str(refused.value)) < 300  # a huge value is not echoed whole
