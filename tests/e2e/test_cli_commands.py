"""The client commands as a user types them, against one `segue dev`: plain output,
problem JSON as lines, the commands of issue 13 point 8."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.devstack import (
    ANY_PORT,
    SEGUE,
    dev_env,
    kill_all,
    processes_naming,
    start_dev,
    wait_gone,
)
from tests.support.processes import ROOT
from tests.support.shells import complete

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]
SLOW = "version: 1\nstart: [pause]\ntasks:\n  pause:\n    delay: 600\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One stack for the module (data outside pytest's base directory: see
    test_dev_lifecycle); the environment finds it through the per-user record."""
    data_dir = Path(tempfile.mkdtemp(prefix="segue-e2e-")) / "data"
    environment = dev_env(tmp_path_factory.mktemp("state"))
    stack = start_dev(data_dir, environment, *ANY_PORT)
    try:
        yield environment
    finally:
        started = stack.processes()
        stack.stop()
        assert wait_gone(started) == []
        kill_all(processes_naming(data_dir))
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def segue(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEGUE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_version_and_validate_without_a_stack() -> None:
    assert segue({}, "--version").stdout.startswith("segue ")
    checked = subprocess.run(
        f"{SEGUE} validate examples/*.yaml", shell=True, cwd=ROOT, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "monitoring.mocks.yaml: skipped" in checked.stdout


def test_missing_file_is_named(env: dict[str, str]) -> None:
    missing = segue(env, "run", "nosuchfile.yaml")
    assert (
        missing.returncode == 2
        and missing.stderr.strip() == "segue run: no such file: nosuchfile.yaml"
    )


def test_problem_json_reads_as_lines(env: dict[str, str]) -> None:
    refused = segue(env, "run", "examples/monitoring.yaml", "--input", '{"max_checks": 0}')
    assert refused.returncode == 2
    assert "[INPUT_INVALID]" in refused.stderr and "/max_checks" in refused.stderr
    assert "{'" not in refused.stderr and "Traceback" not in refused.stderr


def test_register_name_workflows_detach_and_trace(env: dict[str, str], tmp_path: Path) -> None:
    odd = tmp_path / "1st.flow.yaml"
    odd.write_text("version: 1\nstart: [hello]\ntasks:\n  hello:\n    action: core.noop\n")
    refused = segue(env, "run", str(odd))
    assert refused.returncode == 2 and "--name" in refused.stderr, refused.stderr
    registered = segue(env, "register", str(odd), "--name", "first_flow")
    assert registered.returncode == 0 and registered.stdout.startswith("first_flow v1")
    assert "first_flow" in segue(env, "workflows").stdout
    started = segue(env, "run", "first_flow", "--detach")
    run_id = started.stdout.strip()
    assert started.returncode == 0 and len(run_id) == 32, started.stderr
    followed = segue(env, "trace", run_id, "--follow", timeout=60)
    lines = followed.stdout.splitlines()
    assert "hello #" in followed.stdout and lines[-1].split()[1:3] == ["run", "completed"]
    as_json = segue(env, "trace", run_id, "--json")
    assert json.loads(as_json.stdout.splitlines()[-1])["type"] == "WORKFLOW_COMPLETED"
    rerun = segue(env, "rerun", run_id, timeout=60)
    assert rerun.returncode == 0 and "status: succeeded" in rerun.stderr, rerun.stderr


def test_pause_resume_cancel(env: dict[str, str], tmp_path: Path) -> None:
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW)
    run_id = segue(env, "run", str(slow), "--detach").stdout.strip()
    assert segue(env, "pause", run_id).stdout.strip() == f"run {run_id}: paused"
    assert segue(env, "resume", run_id).stdout.strip() == f"run {run_id}: running"
    assert segue(env, "cancel", run_id).returncode == 0
    deadline = time.monotonic() + 30
    while "canceled" not in segue(env, "runs", "--status", "CANCELLED").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_a_followed_run_terminated_in_temporal_ends_the_follow(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The trace stream of a run terminated from Temporal's side ends with no terminal
    event: `segue run` stops following and says so, instead of reconnecting for ever."""
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW)
    follower = subprocess.Popen(
        [SEGUE, "run", str(slow)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert follower.stderr is not None
        first = follower.stderr.readline()  # "run <id> of slow"
        run_id = first.split()[1]
        (record,) = (Path(env["XDG_STATE_HOME"]) / "segue" / "stacks").glob("*.json")
        address = json.loads(record.read_text())["temporal"]
        terminated = subprocess.run(
            [str(Path(SEGUE).parent / "temporal"), "workflow", "terminate",
             "--workflow-id", run_id, "--address", address, "--reason", "test"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert terminated.returncode == 0, terminated.stderr
        _, rest = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 1
    assert "status: terminated" in rest


def test_signal_to_a_task_not_waiting_lists_the_waiting_ones(env: dict[str, str]) -> None:
    run_id = segue(env, "run", "examples/approval.yaml", "--detach").stdout.strip()
    deadline = time.monotonic() + 30
    while True:
        wrong = segue(env, "signal", run_id, "approv", "--payload", "{}")
        if "waiting tasks: approve" in wrong.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert wrong.returncode == 1 and "waiting tasks: approve" in wrong.stderr, wrong.stderr
    segue(env, "cancel", run_id)


def test_events_send(env: dict[str, str]) -> None:
    sent = segue(env, "events", "send", "nobody-waits", "--key", "k1", "--payload", "{}")
    assert sent.returncode == 0 and "delivered to 0 run(s)" in sent.stdout, sent.stderr


def test_graph_of_a_registered_workflow_is_the_files(env: dict[str, str]) -> None:
    """By name, `segue graph` asks the API; what it draws is what the file draws."""
    assert (
        segue(env, "register", "examples/retry-with-cycle.yaml", "--name", "g_retry").returncode
        == 0
    )
    by_name = segue(env, "graph", "g_retry")
    by_file = segue(env, "graph", "examples/retry-with-cycle.yaml")
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout.splitlines()[0] == "workflow g_retry v1: 4 tasks"
    assert by_name.stdout.splitlines()[1:] == by_file.stdout.splitlines()[1:]
    as_json = json.loads(
        segue(env, "graph", "g_retry", "--format", "json", "--version", "1").stdout
    )
    from_file = json.loads(
        segue(env, "graph", "examples/retry-with-cycle.yaml", "--format", "json").stdout
    )
    assert as_json["nodes"] == from_file["nodes"] and as_json["edges"] == from_file["edges"]
    missing = segue(env, "graph", "g_retry", "--version", "9")
    assert missing.returncode == 1 and "[WORKFLOW_VERSION_NOT_FOUND]" in missing.stderr
    unknown = segue(env, "graph", "no_such_workflow")
    assert unknown.returncode == 1 and "[WORKFLOW_NOT_FOUND]" in unknown.stderr


def test_completion_offers_workflow_names_and_run_ids(env: dict[str, str]) -> None:
    """Tab after `segue graph g_` or `segue trace ` asks the stack `segue` would use."""
    assert segue(env, "register", "examples/fan-out-join.yaml", "--name", "g_fan").returncode == 0
    run_id = segue(env, "run", "g_fan", "--detach").stdout.strip()
    assert "g_fan" in complete("bash", "segue graph g_", env=env)
    assert "g_fan" in complete("bash", "segue runs --workflow g_f", env=env)
    assert run_id in complete("bash", "segue trace ", env=env)
    assert complete("bash", f"segue cancel {run_id[:12]}", env=env) == [run_id]


LIMITED = """\
version: 1
input:
  host: {type: string, default: db-1}
tasks:
  hold:
    action: core.approval
    concurrency_limits:
      cli_per_host: {key: <% $ctx.host %>, limit: 1}
"""


def test_limits_lists_holders_and_waiters_per_key(env: dict[str, str], tmp_path: Path) -> None:
    """`segue limits [NAME]` as a user types it, with completion of the name."""
    (tmp_path / "limited.yaml").write_text(LIMITED)
    assert segue(env, "register", str(tmp_path / "limited.yaml")).returncode == 0
    runs = [segue(env, "run", "limited", "--detach").stdout.strip() for _ in range(2)]
    deadline = time.monotonic() + 60
    while "1 holding     1 waiting" not in (listed := segue(env, "limits", "cli_per_host")).stdout:
        assert time.monotonic() < deadline, listed.stdout + listed.stderr
        time.sleep(0.5)
    first, key = listed.stdout.splitlines()
    assert first.split() == ["cli_per_host", "1", "holding", "1", "waiting"]
    assert key.split()[:5] == ["db-1", "1", "holding", "1", "waiting"]
    assert "oldest wait since 20" in key
    assert "cli_per_host" in segue(env, "limits").stdout
    assert complete("bash", "segue limits cli_", env=env) == ["cli_per_host"]

    for run_id in runs:
        assert segue(env, "cancel", run_id).returncode == 0
    deadline = time.monotonic() + 30
    while (
        "no concurrency limit is in use"
        not in (after := segue(env, "limits", "cli_per_host")).stdout
    ):
        assert time.monotonic() < deadline, after.stdout + after.stderr
        time.sleep(0.5)
    assert after.stdout.strip() == "no concurrency limit is in use named cli_per_host"
    refused = segue(env, "limits", "x" * 65)
    assert refused.returncode == 1 and "[NAME_INVALID]" in refused.stderr


SCHEDULED = """\
version: 1
schedules:
  hourly:
    every: 3600
tasks:
  hello:
    action: core.noop
"""


def test_schedules_list_show_pause_unpause_trigger(env: dict[str, str], tmp_path: Path) -> None:
    """`segue schedules VERB WORKFLOW [SCHEDULE]` over the schedules API, as typed."""
    (tmp_path / "cli_sched.yaml").write_text(SCHEDULED)
    assert segue(env, "register", str(tmp_path / "cli_sched.yaml")).returncode == 0
    listed = segue(env, "schedules", "list", "cli_sched")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:4] == ["hourly", "active", "next", listed.stdout.split()[3]]
    assert listed.stdout.split()[3].startswith("20")  # an ISO time
    paused = segue(env, "schedules", "pause", "cli_sched", "hourly", "--note", "maintenance")
    assert paused.stdout.split()[:2] == ["hourly", "paused"], paused.stderr
    assert segue(env, "schedules", "show", "cli_sched", "hourly").stdout.split()[1] == "paused"
    unpaused = segue(env, "schedules", "unpause", "cli_sched", "hourly")
    assert unpaused.stdout.split()[:2] == ["hourly", "active"], unpaused.stderr
    assert segue(env, "schedules", "trigger", "cli_sched", "hourly").returncode == 0
    deadline = time.monotonic() + 60
    while not segue(env, "runs", "--workflow", "cli_sched").stdout.strip():
        assert time.monotonic() < deadline, "the triggered run never showed"
        time.sleep(0.5)
    missing = segue(env, "schedules", "show", "cli_sched", "nope")
    assert missing.returncode == 1 and "[SCHEDULE_NOT_FOUND]" in missing.stderr, missing.stderr
    assert complete("bash", "segue schedules list cli_sch", env=env) == ["cli_sched"]


def test_schedules_backfill_starts_what_the_window_held(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`segue schedules backfill`: an hourly schedule backfilled over a window holding
    exactly three of its hours starts three runs; a window that is not ISO 8601 is the
    API's problem on one line."""
    (tmp_path / "cli_backfill.yaml").write_text(SCHEDULED)
    assert segue(env, "register", str(tmp_path / "cli_backfill.yaml")).returncode == 0
    hour = 3600
    # From half past, three hours and a bit less: three whole hours fall inside.
    start = (int(time.time()) // hour - 4) * hour + hour // 2
    window = [
        datetime.fromtimestamp(moment, tz=UTC).isoformat()
        for moment in (start, start + 3 * hour - 60)
    ]
    filled = segue(
        env,
        "schedules",
        "backfill",
        "cli_backfill",
        "hourly",
        "--start",
        window[0],
        "--end",
        window[1],
        "--overlap",
        "allow_all",
    )
    assert filled.returncode == 0, filled.stderr
    assert filled.stdout.split()[0] == "hourly"
    deadline = time.monotonic() + 60
    while len(segue(env, "runs", "--workflow", "cli_backfill").stdout.splitlines()) < 3:
        assert time.monotonic() < deadline, "the backfilled runs never showed"
        time.sleep(0.5)
    time.sleep(2)  # a fourth would have shown by now
    assert len(segue(env, "runs", "--workflow", "cli_backfill").stdout.splitlines()) == 3
    bad = segue(env, "schedules", "backfill", "cli_backfill", "hourly", "--start", "yesterday",
                "--end", window[1])  # fmt: skip
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_webhooks_and_rules_as_typed(env: dict[str, str]) -> None:
    """`segue webhooks …` and `segue rules …` over their APIs; problems as one line."""
    registered = segue(env, "register", "examples/fan-out-join.yaml", "--name", "cli_hooked")
    assert registered.returncode == 0
    created = segue(env, "webhooks", "create", "cli_hooked", "deploys", "--input", "payload")
    assert created.returncode == 0, created.stderr
    hook_line, secret_line = created.stdout.splitlines()
    assert hook_line.split()[0] == "deploys" and "/hooks/" in hook_line
    assert secret_line.startswith("secret ") and len(secret_line.split()[1]) >= 32
    listed = segue(env, "webhooks", "list", "cli_hooked").stdout
    assert listed.split()[0] == "deploys" and secret_line.split()[1] not in listed
    again = segue(env, "webhooks", "create", "cli_hooked", "deploys")
    assert again.returncode == 1 and "[WEBHOOK_EXISTS]" in again.stderr
    assert segue(env, "webhooks", "delete", "cli_hooked", "deploys").stdout.strip() == (
        "deleted deploys"
    )
    assert segue(env, "webhooks", "list", "cli_hooked").stdout.strip() == ""

    put = segue(
        env, "rules", "put", "cli_rule", "--event", "deploy.done", "--workflow", "cli_hooked",
        "--criteria", "payload.ok = true",
    )  # fmt: skip
    assert put.returncode == 0, put.stderr
    assert put.stdout.splitlines()[0].split() == [
        "cli_rule", "on", "deploy.done", "starts", "cli_hooked"
    ]  # fmt: skip
    assert "criteria: payload.ok = true" in segue(env, "rules", "show", "cli_rule").stdout
    assert "cli_rule" in segue(env, "rules", "list").stdout
    bad = segue(env, "rules", "put", "cli_bad", "--event", "e", "--workflow", "cli_hooked",
                "--criteria", "payload.(")  # fmt: skip
    assert bad.returncode == 1 and "[EXPRESSION_INVALID]" in bad.stderr, bad.stderr
    assert segue(env, "rules", "delete", "cli_rule").returncode == 0
    gone = segue(env, "rules", "show", "cli_rule")
    assert gone.returncode == 1 and "NOT_FOUND]" in gone.stderr
    assert complete("bash", "segue webhooks list cli_hook", env=env) == ["cli_hooked"]
