"""Load on one worker: many concurrent runs of the monitoring example, started over HTTP,
each polling a health target of its own, must all complete with the right output.

Everything real (dev server, PostgreSQL, `segue api` and `segue worker` processes); the
logic is `tests/support/load.py`, shared with `benchmarks/load.py`, which reports the
figures (docs/performance.md, "Load: 500 concurrent monitoring runs")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.load import EXPECTED_OUTPUT, HEALTHY_AFTER, run_load

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


def assert_all_correct(results: dict[str, object], runs: int) -> None:
    assert results["refused"] == []
    assert results["refused_but_ran"] == []
    assert results["wrong"] == []
    assert results["accepted"] == runs
    assert results["statuses"] == {"COMPLETED": runs}
    assert results["polls_per_target"] == [HEALTHY_AFTER]


def test_thirty_concurrent_monitoring_runs(postgres_url: str, tmp_path: Path) -> None:
    """The code path of the load proof, small enough for every CI run (~15 s)."""
    results = run_load(postgres_url, 30, directory=tmp_path)
    assert_all_correct(results, 30)
    assert EXPECTED_OUTPUT == {"healthy": True, "checks": 3}


@pytest.mark.slow
def test_five_hundred_concurrent_monitoring_runs(postgres_url: str, tmp_path: Path) -> None:
    """500 runs on one worker, 50 start requests in flight (about 2 min on 2 cores)."""
    results = run_load(postgres_url, 500, concurrency=50, directory=tmp_path)
    assert_all_correct(results, 500)
