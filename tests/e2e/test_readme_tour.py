"""The README, re-run verbatim: its set-up stays two commands, and every command of the
tour and of "Work on a workflow without any server" runs as a user types it, against a
`segue dev` this test starts on free ports, with the exit status and output the README
promises. A command added to those blocks without an expectation here fails the test."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.devstack import (
    ANY_PORT,
    SEGUE,
    DevStack,
    dev_env,
    kill_all,
    processes_naming,
    start_dev,
    wait_gone,
)
from tests.support.processes import ROOT

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]
README = ROOT / "README.md"
COMMAND_TIMEOUT = 90  # seconds a single command may take (the tour's runs take ~4 s)


@dataclass(frozen=True)
class Expect:
    """What a README command must do: its exit status, and text its output contains."""

    status: int
    shows: tuple[str, ...]


# Keyed by the start of the command as the README writes it; matched in this order.
EXPECTED: dict[str, Expect] = {
    "segue run examples/monitoring.yaml --input": Expect(
        0, ('{"checks": 3, "healthy": true}', "check                #3", "status: succeeded")
    ),
    "segue runs": Expect(0, ("monitoring", "succeeded")),
    "segue trace RUN_ID": Expect(0, ("check #1", "run                      completed")),
    "curl -N ": Expect(0, ("id: 000000000001", '"type":"WORKFLOW_COMPLETED"')),
    "segue logs RUN_ID --task check --follow": Expect(0, ("check #", "info         GET http")),
    "segue rerun RUN_ID": Expect(0, ("(a rerun of RUN_ID)", "status: succeeded")),
    "segue export RUN_ID --dir /tmp/segue-case": Expect(
        0, ("segue simulate /tmp/segue-case/", "--mocks /tmp/segue-case/")
    ),
    "segue validate examples/monitoring.yaml": Expect(0, ("examples/monitoring.yaml: ok",)),
    "segue validate --workflows workflows": Expect(0, ("examples/child-workflow.yaml: ok",)),
    "segue simulate examples/monitoring.yaml --input": Expect(
        1, ("status: failed", "[fail_command] task 'check'")
    ),
    "segue simulate examples/monitoring.yaml --mocks": Expect(0, ('"status": "succeeded"',)),
    "segue graph examples/retry-with-cycle.yaml": Expect(0, ("rollback  action core.echo ↻",)),
}


def sh_blocks(section: str) -> list[list[str]]:
    """The commands of each ```sh block under a `## section` heading: comments and
    continuation lines kept, as a shell reads them."""
    text = README.read_text()
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else len(text)]
    blocks = re.findall(r"```sh\n(.*?)```", body, flags=re.DOTALL)
    return [re.sub(r"\\\n\s*", "", block).strip().splitlines() for block in blocks]


def expectation(command: str) -> Expect:
    for start, expect in EXPECTED.items():
        if command.startswith(start):
            return expect
    raise AssertionError(f"README command without an expectation in this test: {command}")


def test_the_set_up_is_two_commands() -> None:
    blocks = sh_blocks("Two commands")
    assert [len(block) for block in blocks] == [1, 1], blocks
    install, tests = blocks[0][0], blocks[1][0]
    assert install.startswith("python3 -m venv .venv && ") and install.endswith(
        "&& segue run examples/monitoring.yaml"
    )
    assert "pip install -c requirements/lock.txt -e ." in install
    assert tests == "bash .ci/run"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevStack, dict[str, str]]]:
    """The tour's first line, `segue dev`, on free ports (the README's are defaults)."""
    tour = sh_blocks("A five-minute tour")[0]
    assert tour[0].split("#")[0].strip() == "segue dev"
    data_dir = Path(tempfile.mkdtemp(prefix="segue-tour-")) / "data"
    env = dev_env(tmp_path_factory.mktemp("state"))
    # `segue`, curl, and useradd: the embedded PostgreSQL, started as root, makes a user
    # of its own the first time (in a full run another test may have made it already).
    env["PATH"] = f"{Path(SEGUE).parent}:/usr/bin:/bin:/usr/sbin"
    dev = start_dev(data_dir, env, *ANY_PORT)
    try:
        yield dev, env
    finally:
        started = dev.processes()
        dev.stop()
        assert wait_gone(started) == []
        kill_all(processes_naming(data_dir))
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def run_line(line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )


def test_the_tour_verbatim(stack: tuple[DevStack, dict[str, str]]) -> None:
    assert shutil.which("curl"), "the tour uses curl"
    dev, env = stack
    for url in ("API ", "OpenAPI ", "Temporal UI "):  # what `segue dev` says it prints
        assert url in dev.output()
    run_id = ""
    for line in sh_blocks("A five-minute tour")[0][1:]:
        if line.startswith("#"):
            continue  # a comment a user reads, not a command (bash would skip it too)
        command = line.split("  #")[0].strip()
        expect = expectation(command)
        # What a user types instead of the placeholders: the id `segue run` printed,
        # and the API URL `segue dev` printed (the README's is the default port).
        typed = command.replace("RUN_ID", run_id).replace("http://127.0.0.1:8000", dev.api)
        done = run_line(typed, env)
        output = done.stdout + done.stderr
        assert done.returncode == expect.status, f"{typed}\n{output}"
        for shown in expect.shows:
            assert shown.replace("RUN_ID", run_id) in output, f"{typed}\n{output}"
        if not run_id:
            found = re.search(r"^run ([0-9a-f]{32}) of monitoring$", done.stderr, re.MULTILINE)
            assert found, done.stderr
            run_id = found.group(1)
    shutil.rmtree("/tmp/segue-case", ignore_errors=True)  # what `segue export` wrote


def test_working_without_a_server_verbatim() -> None:
    blocks = sh_blocks("A five-minute tour")
    offline = next(block for block in blocks if block[0].startswith("segue validate"))
    for line in offline:
        expect = expectation(line.split("  #")[0].strip())
        done = run_line(line, {"PATH": f"{Path(SEGUE).parent}:/usr/bin:/bin"})
        output = done.stdout + done.stderr
        assert done.returncode == expect.status, f"{line}\n{output}"
        assert all(shown in output for shown in expect.shows), f"{line}\n{output}"
