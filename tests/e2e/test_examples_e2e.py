"""Every example, run for real on `segue dev` (its demo service plays the endpoints)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.devstack import ANY_PORT

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
SEGUE = [sys.executable, "-m", "api.cli"]


@pytest.fixture(scope="module")
def dev_stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("dev")
    env = {
        **os.environ,
        "SEGUE_DATA_DIR": str(data_dir),
        "SEGUE_DATABASE_URL": postgres_url,
        "XDG_STATE_HOME": str(data_dir / "state"),
    }
    env.pop("SEGUE_API_URL", None)
    dev = subprocess.Popen(
        [*SEGUE, "dev", *ANY_PORT],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    announced = data_dir / "api-url"
    deadline = time.monotonic() + 90
    while not announced.is_file():
        assert dev.poll() is None and time.monotonic() < deadline, "segue dev did not start"
        time.sleep(0.2)
    try:
        yield announced.read_text().strip(), env
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(60)


def segue_run(
    env: dict[str, str], name: str, run_input: dict[str, Any] | None = None
) -> tuple[int, Any]:
    arguments = [*SEGUE, "run", f"examples/{name}.yaml"]
    if run_input is not None:
        arguments += ["--input", json.dumps(run_input)]
    done = subprocess.run(arguments, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else done.stderr


@pytest.mark.parametrize(
    ("name", "run_input", "expected"),
    [
        ("monitoring", {"interval": 1}, {"healthy": True, "checks": 3}),
        ("retry-with-cycle", None, {"rollbacks": 2}),
        ("conditional-loop", {"pages": 3}, {"pages": 3, "total": 60}),
        ("child-workflow", {"name": "Grace"}, {"greeting": "Hello Grace"}),
    ],
)
def test_example_runs(
    dev_stack: tuple[str, dict[str, str]], name: str, run_input: Any, expected: Any
) -> None:
    _, env = dev_stack
    assert segue_run(env, name, run_input) == (0, expected)


def test_fan_out_join_reports_every_branch(dev_stack: tuple[str, dict[str, str]]) -> None:
    _, env = dev_stack
    code, output = segue_run(env, "fan-out-join")
    assert code == 0 and set(output["statuses"]) == {"api", "db", "cache"}
    assert all(status in (200, 503) for status in output["statuses"].values())


def test_with_items_over_hosts(dev_stack: tuple[str, dict[str, str]]) -> None:
    _, env = dev_stack
    code, output = segue_run(env, "with-items-hosts", {"hosts": ["h1", "h2", "h3"]})
    assert code == 0 and output["answered"] == 3 and output["statuses"] == [503, 503, 503]


def test_approval_resumed_through_the_api(dev_stack: tuple[str, dict[str, str]]) -> None:
    api, env = dev_stack
    text = (ROOT / "examples" / "approval.yaml").read_bytes()
    http = httpx.Client(base_url=api, timeout=30)
    http.post(
        "/workflows",
        params={"name": "approval"},
        content=text,
        headers={"content-type": "application/yaml"},
    )
    run_id = http.post("/workflows/approval/runs", json={"input": {}}).json()["runId"]
    deadline = time.monotonic() + 30
    while True:
        signalled = subprocess.run(
            [*SEGUE, "signal", run_id, "approve", "--payload", '{"approved": true, "by": "grace"}'],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if signalled.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert signalled.returncode == 0, signalled.stderr
    while (status := http.get(f"/runs/{run_id}").json())["status"] not in ("COMPLETED", "FAILED"):
        assert time.monotonic() < deadline + 30
        time.sleep(0.3)
    assert status["status"] == "COMPLETED"
    assert status["output"] == {"applied": True, "decided_by": "grace"}
