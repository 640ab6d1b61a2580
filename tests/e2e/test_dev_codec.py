"""`segue dev` encrypts by default, as a process: the first start makes an owner-only key
in the data directory and says where, Temporal keeps a run's input as ciphertext, the
dev Temporal UI (configured by `segue dev` itself) shows it decoded in a real browser,
and a second start keeps the key, so the first run still reads."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.dev_codec import KEY_FILE_NAME
from engine.temporal.devserver import temporal_binary
from tests.api.test_browsers import CHROMIUM, CHROMIUM_ARGS
from tests.support.devstack import ANY_PORT, DevStack, dev_env, kill_all, processes_naming
from tests.support.devstack import start_dev as spawn_and_wait

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

FLOW = """\
version: 1
input:
  password: {type: string, secret: true}
tasks:
  echo:
    action: core.echo
    input: {said: <% $ctx.password %>}
"""


@pytest.fixture
def dirs(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Path, dict[str, str]]]:
    data_dir = Path(tempfile.mkdtemp(prefix="segue-codec-")) / "data"
    try:
        yield data_dir, dev_env(tmp_path / "state", SEGUE_DATABASE_URL=postgres_url)
    finally:
        kill_all(processes_naming(data_dir))
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def _start(data_dir: Path, env: dict[str, str]) -> tuple[DevStack, str]:
    """A started stack and its banner (printed once the API serves)."""
    stack = spawn_and_wait(data_dir, env, *ANY_PORT)
    deadline = time.monotonic() + 30
    while "codec key" not in stack.output():
        assert time.monotonic() < deadline, stack.output()
        time.sleep(0.1)
    return stack, stack.output()


def _run(api: str, password: str) -> str:
    """Register FLOW and run it to the end through the dev API; the run id."""
    name = f"codec{uuid.uuid4().hex[:6]}"
    yaml = {"Content-Type": "application/yaml"}
    registered = httpx.post(f"{api}/workflows", params={"name": name}, content=FLOW, headers=yaml)
    assert registered.status_code == 201, registered.text
    started = httpx.post(f"{api}/workflows/{name}/runs", json={"input": {"password": password}})
    assert started.status_code == 201, started.text
    run_id: str = started.json()["runId"]
    deadline = time.monotonic() + 60
    while httpx.get(f"{api}/runs/{run_id}").json()["status"] != "COMPLETED":
        assert time.monotonic() < deadline, httpx.get(f"{api}/runs/{run_id}").text
        time.sleep(0.2)
    return run_id


def _start_input(temporal: str, run_id: str, *codec: str) -> str:
    """The run's start input as `temporal workflow show` prints it (decoded through the
    codec endpoint when one is given)."""
    show = [temporal_binary(), "workflow", "show", "--address", temporal, "--output", "json"]
    shown = subprocess.run(
        [*show, "--workflow-id", run_id, *codec],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    started = json.loads(shown.stdout)["events"][0]["workflowExecutionStartedEventAttributes"]
    return base64.b64decode(started["input"]["payloads"][0]["data"]).decode("utf-8", "replace")


def test_segue_dev_encrypts_with_a_key_it_keeps(dirs: tuple[Path, dict[str, str]]) -> None:
    data_dir, env = dirs
    key_file = data_dir / KEY_FILE_NAME
    password = f"dev-secret-{uuid.uuid4().hex[:8]}"
    stack, banner = _start(data_dir, env)
    try:
        assert f"codec key     {key_file} (new)" in banner
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        key = key_file.read_text()
        run_id = _run(stack.api, password)
        temporal = str(stack.record["temporal"])
        # Temporal keeps ciphertext; the codec routes (no token in dev) open it.
        assert password not in _start_input(temporal, run_id)
        endpoint = ["--codec-endpoint", f"{stack.api}/codec"]
        assert password in _start_input(temporal, run_id, *endpoint)
        ui = re.search(r"Temporal UI\s+(http://127\.0\.0\.1:\d+)", banner)
        assert ui is not None, banner
        if shutil.which(CHROMIUM):
            assert password in _ui_run_page(f"{ui.group(1)}/namespaces/default/workflows/{run_id}")
    finally:
        stack.stop()
    # The second start keeps the key: the first run still reads.
    stack, banner = _start(data_dir, env)
    try:
        assert f"codec key     {key_file} (kept)" in banner and key_file.read_text() == key
        endpoint = ["--codec-endpoint", f"{stack.api}/codec"]
        assert password in _start_input(str(stack.record["temporal"]), run_id, *endpoint)
    finally:
        stack.stop()


def _ui_run_page(url: str) -> str:
    """The dev UI's page of a run, as a browser shows it with no settings of its own: the
    codec endpoint is the one `segue dev` gave the UI server."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            with page.expect_response(lambda r: "/codec/" in r.url, timeout=60_000) as codec:
                page.goto(url, timeout=60_000)
            assert codec.value.status == 200
            page.wait_for_function(
                "() => document.body.innerText.includes('dev-secret-')", timeout=60_000
            )
            text: str = page.inner_text("body")
            return text
        finally:
            browser.close()
