"""`segue dev` and `segue run` for real: processes, sockets, Ctrl-C, a second start that
reuses the data, and nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.devstack import ANY_PORT

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
SEGUE = [sys.executable, "-m", "api.cli"]


def _listening(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


def _start_dev(env: dict[str, str], data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    announced = data_dir / "api-url"
    dev = subprocess.Popen(
        [*SEGUE, "dev", *ANY_PORT],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 90
    while not announced.is_file():
        assert dev.poll() is None, dev.stdout.read() if dev.stdout else ""
        assert time.monotonic() < deadline, "segue dev did not start"
        time.sleep(0.2)
    return dev, announced.read_text().strip()


def _stop_dev(dev: subprocess.Popen[str]) -> str:
    dev.send_signal(signal.SIGINT)
    output, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0, output
    return output


def test_dev_run_and_restart(tmp_path: Path, postgres_url: str) -> None:
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "SEGUE_DATA_DIR": str(data_dir),
        "SEGUE_DATABASE_URL": postgres_url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    env.pop("SEGUE_API_URL", None)
    dev, api = _start_dev(env, data_dir)
    try:
        run = subprocess.run(
            [*SEGUE, "run", "examples/monitoring.yaml", "--input", '{"interval": 1}'],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout) == {"checks": 3, "healthy": True}
        assert "check" in run.stderr and "status: succeeded" in run.stderr
        runs = subprocess.run(
            [*SEGUE, "runs"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=30
        )
        assert runs.returncode == 0 and "succeeded" in runs.stdout
        run_id = runs.stdout.split()[0]
        # Any case, the language's word or the API's.
        for word in ("SUCCEEDED", "completed"):
            filtered = subprocess.run(
                [*SEGUE, "runs", "--status", word],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            assert filtered.returncode == 0 and run_id in filtered.stdout, filtered.stderr
        refused = subprocess.run(
            [*SEGUE, "runs", "--status", "done"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert refused.returncode == 2 and "allowed: queued, running" in refused.stderr
        trace = subprocess.run(
            [*SEGUE, "trace", run_id, "--json"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        types = [json.loads(line)["type"] for line in trace.stdout.splitlines()]
        assert types[0] == "WORKFLOW_STARTED" and types[-1] == "WORKFLOW_COMPLETED"
        refused = subprocess.run(
            [*SEGUE, "rerun", run_id, "--failed"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert refused.returncode == 1 and "[RUN_NOT_FAILED]" in refused.stderr, refused.stderr
        assert "{" not in refused.stderr, refused.stderr
        rerun = subprocess.run(
            [*SEGUE, "rerun", run_id, "--detach"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads(rerun.stdout)["rerunOf"] == run_id
    finally:
        output = _stop_dev(dev)
    assert "API" in output and "Temporal UI" in output
    assert not _listening(api), "the API still listens after Ctrl-C"
    assert not (data_dir / "api-url").exists()

    # A second start reuses the data: the run is still there.
    dev, api = _start_dev(env, data_dir)
    try:
        runs = subprocess.run(
            [*SEGUE, "runs"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=30
        )
        assert run_id in runs.stdout
    finally:
        _stop_dev(dev)
    assert not _listening(api)
