"""Compose's Prometheus for real: a `prometheus` server on loopback, started by compose's
own entrypoint (the API token written to the data volume) with compose's config, its
targets rewritten to this test's API and worker, scrapes them while Segue runs
workflows on real Temporal and PostgreSQL. The series the alerts and the dashboard read
exist with the values of the runs made, every alert rule evaluates without error, and
every PromQL expression of the Grafana dashboard answers with data, by the labels it
groups by (deploy/prometheus, deploy/grafana; docs/operations.md, "Metrics")."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.config import ApiConfig
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.store import StorePool, open_pool
from engine.temporal.activities import SegueActivities
from engine.temporal.metrics import prometheus_runtime
from engine.temporal.store_sink import StoreTaskLogs, trace_sink, workflow_lookup
from engine.temporal.worker import build_worker, connect, store_converter
from tests.api.conftest import OTHER_TOKEN, TOKEN, ServedApp
from tests.api.conftest import TEST_ACTIONS as API_ACTIONS
from tests.api.test_runs import APPROVAL
from tests.compose.prometheus_files import (
    binary,
    job_of,
    local_config,
    token_file_in,
    write_config,
)
from tests.compose.test_compose import ENVIRONMENT, environment_of, interpolate
from tests.compose.test_observability import (
    GRAFANA,
    PROMETHEUS,
    command_words,
    mounted_file,
    prometheus_config,
)
from tests.support.postgres import temporary_database
from tests.support.temporal import BackgroundLoop
from tests.temporal.test_metrics import _free_port
from tests.temporal.test_runs import TEST_ACTIONS as ENGINE_ACTIONS

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

# Two failed attempts, then a success: 3 attempts a run.
RECOVERS = """
version: 1
tasks:
  call:
    action: test.flaky
    input: {failures: 2}
    retry: {count: 3, delay: 0.1}
"""
# Fails both attempts: the run fails.
GIVES_UP = """
version: 1
tasks:
  call:
    action: test.flaky
    input: {failures: 9}
    retry: {count: 1, delay: 0.1}
"""
# A loop its iteration cap stops (segue_iteration_cap_hits_total).
CAPPED = """
version: 1
vars: {n: 0}
start: [count]
tasks:
  count:
    action: core.echo
    input: <% $ctx.n %>
    max_iterations: 3
    next:
      - {when: $ctx.n < 5, publish: {n: <% $ctx.n + 1 %>}, do: count}
"""
SCRAPE_INTERVAL = "1s"


def catalog() -> ActionCatalog:
    """The API tests' actions and `test.flaky` (fails its first `failures` attempts)."""
    flaky = [action for action in ENGINE_ACTIONS if action.name == "test.flaky"]
    return ActionCatalog([*builtin_actions(allow_shell=True), *API_ACTIONS, *flaky])


@dataclass
class Stack:
    api: httpx.Client  # authenticated
    prometheus: httpx.Client
    names: dict[str, str]  # workflow text's role -> its registered name
    waiting: str  # the approval run, not ended (segue_runs_active)


def query(prometheus: httpx.Client, expression: str) -> dict[str, Any]:
    """Prometheus's answer to an instant query (status, data or error)."""
    answer: dict[str, Any] = prometheus.get("/api/v1/query", params={"query": expression}).json()
    return answer


def vector(prometheus: httpx.Client, expression: str, label: str) -> dict[str, float]:
    """`{value of label: sample}` of an instant query that must succeed."""
    answer = query(prometheus, expression)
    assert answer["status"] == "success", (expression, answer)
    return {
        row["metric"].get(label, ""): float(row["value"][1]) for row in answer["data"]["result"]
    }


def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """`check()`'s value once it stops raising AssertionError (Prometheus scrapes each
    second, so a series shows a new value within a few)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"never: {what}") from None
            time.sleep(0.25)


def start_worker(
    loop: BackgroundLoop, database: str, temporal: str, queue: str, metrics: str
) -> tuple[StorePool, Any]:
    """A worker as `segue worker` runs it, serving /metrics at `metrics`."""

    async def start() -> tuple[StorePool, Any]:
        runtime = prometheus_runtime(metrics)
        pool = await open_pool(database)
        converter, max_result = store_converter(pool)
        client = await connect(temporal, data_converter=converter, runtime=runtime)
        activities = SegueActivities(
            catalog(),
            trace_sink=trace_sink(pool),
            workflow_lookup=workflow_lookup(pool),
            task_logs=StoreTaskLogs(pool),
            limit_store=pool,
            max_result_bytes=max_result,
            meter=runtime.metric_meter,
        )
        worker = build_worker(client, activities, task_queue=queue)
        await worker.__aenter__()
        return pool, worker

    return loop.run(start())


def start_prometheus(tmp_path: Path, api: str, worker: str) -> tuple[subprocess.Popen[str], str]:
    """Compose's prometheus service on loopback: its entrypoint script (token file, then
    `exec` Prometheus) with its flags, the container paths made this test's."""
    data = tmp_path / "data"
    data.mkdir()
    config = local_config(data, api=api, worker=worker, interval=SCRAPE_INTERVAL)
    config_file = write_config(config, tmp_path / "prometheus.yml")
    shell, option, script, name = interpolate(PROMETHEUS["entrypoint"], ENVIRONMENT)
    container_token_file = job_of(prometheus_config(), "segue-api")["authorization"][
        "credentials_file"
    ]
    assert script.count(container_token_file) == 1
    script = script.replace(container_token_file, str(token_file_in(data)))
    script = script.replace("exec /bin/prometheus", f"exec {binary('prometheus')}")
    replaced = {"--config.file": str(config_file), "--storage.tsdb.path": str(data)}
    flags = [
        f"{word.split('=', 1)[0]}={replaced[word.split('=', 1)[0]]}"
        if word.split("=", 1)[0] in replaced
        else word
        for word in command_words(PROMETHEUS)
    ]
    listen = f"127.0.0.1:{_free_port()}"
    process = subprocess.Popen(
        [shell, option, script, name, *flags, f"--web.listen-address={listen}"],
        env={"SEGUE_API_TOKEN": f"{TOKEN},{OTHER_TOKEN}", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
        text=True,
    )
    return process, f"http://{listen}"


@pytest.fixture(scope="module")
def stack(
    temporal_address: str,
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    binary("prometheus")  # skipped (saying why) before anything starts
    tmp_path = tmp_path_factory.mktemp("prometheus")
    queue = f"segue-prometheus-{uuid.uuid4().hex[:8]}"
    metrics = f"127.0.0.1:{_free_port()}"
    with temporary_database(postgres_server_url) as database:
        pool, worker = start_worker(background_loop, database, temporal_address, queue, metrics)
        config = ApiConfig(
            database_url=database,
            temporal_address=temporal_address,
            task_queue=queue,
            tokens=(TOKEN, OTHER_TOKEN),
        )
        served = ServedApp(create_app(config, catalog=catalog()))
        served.start()
        process, url = start_prometheus(tmp_path, f"127.0.0.1:{served.port}", metrics)
        api = httpx.Client(
            base_url=served.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        prometheus = httpx.Client(base_url=url, timeout=10)
        stack = None
        try:
            eventually(lambda: _ready(prometheus, process, tmp_path), "Prometheus ready")
            names = {}
            for role, text in {
                "recovers": RECOVERS,
                "gives_up": GIVES_UP,
                "capped": CAPPED,
                "approval": APPROVAL,
            }.items():
                names[role] = f"prom_{role}_{uuid.uuid4().hex[:6]}"
                answer = api.post("/workflows", params={"name": names[role]}, content=text)
                assert answer.status_code in (200, 201), answer.text
            stack = Stack(api, prometheus, names, "")
            stack.waiting = make_runs(stack)
            yield stack
        finally:
            if stack is not None and stack.waiting:
                api.post(f"/runs/{stack.waiting}/cancel")
            api.close()
            prometheus.close()
            process.terminate()
            process.wait(15)
            served.stop()

            async def stop_worker() -> None:
                await worker.__aexit__(None, None, None)
                await pool.close()

            background_loop.run(stop_worker())


def _ready(prometheus: httpx.Client, process: subprocess.Popen[str], tmp_path: Path) -> None:
    if process.poll() is not None:
        log = (tmp_path / "prometheus.log").read_text()
        raise RuntimeError(f"prometheus exited ({process.returncode}): {log[-2000:]}")
    try:
        assert prometheus.get("/-/ready").status_code == 200
    except httpx.TransportError as error:
        raise AssertionError(str(error)) from error


def run(stack: Stack, role: str) -> str:
    answer = stack.api.post(f"/workflows/{stack.names[role]}/runs", json={"input": {}})
    assert answer.status_code == 201, answer.text
    run_id: str = answer.json()["runId"]
    return run_id


def ended(stack: Stack, run_id: str, status: str, timeout: float = 30.0) -> None:
    def check() -> None:
        assert stack.api.get(f"/runs/{run_id}").json()["status"] == status

    eventually(check, f"run {run_id} {status}", timeout)


def make_runs(stack: Stack) -> str:
    """Two runs that recover after retries, one that gives up, one its cap stops, all
    ended; and one waiting for an approval (its id)."""
    recovered = [run(stack, "recovers") for _ in range(2)]
    gave_up = run(stack, "gives_up")
    capped = run(stack, "capped")
    waiting = run(stack, "approval")
    for run_id in recovered:
        ended(stack, run_id, "COMPLETED")
    ended(stack, gave_up, "FAILED")
    ended(stack, capped, "FAILED")
    return waiting


def test_prometheus_scrapes_what_the_runs_did(stack: Stack) -> None:
    prometheus, names = stack.prometheus, stack.names

    # Both jobs are up: the worker's /metrics, and the API's with the token compose writes.
    def up() -> None:
        assert vector(prometheus, "up", "job") == {"segue-api": 1, "segue-worker": 1}

    eventually(up, "both targets up")

    def attempts() -> None:
        by_type = 'sum by (error_type) (segue_task_attempts_total{action="test.flaky"})'
        # 2 runs x (2 failed + 1 succeeded), 1 run x 2 failed.
        assert vector(prometheus, by_type, "error_type") == {"flaky": 6, "none": 2}
        for histogram in ("segue_task_duration_seconds", "segue_task_queue_wait_seconds"):
            count = f'sum({histogram}_count{{action="test.flaky"}})'
            assert vector(prometheus, count, "") == {"": 8}, histogram

    eventually(attempts, "attempts as run")

    def runs() -> None:
        ours = "|".join(names.values())
        started = f'sum by (workflow) (segue_runs_started_total{{workflow=~"{ours}"}})'
        assert vector(prometheus, started, "workflow") == {
            names["recovers"]: 2,
            names["gives_up"]: 1,
            names["capped"]: 1,
            names["approval"]: 1,
        }
        finished = f'sum by (workflow, status) (segue_runs_finished_total{{workflow=~"{ours}"}})'
        answer = query(prometheus, finished)["data"]["result"]
        assert {
            (row["metric"]["workflow"], row["metric"]["status"]): float(row["value"][1])
            for row in answer
        } == {
            (names["recovers"], "succeeded"): 2,
            (names["gives_up"], "failed"): 1,
            (names["capped"], "failed"): 1,
        }
        capped_hits = (
            f'sum by (task) (segue_iteration_cap_hits_total{{workflow="{names["capped"]}"}})'
        )
        assert vector(prometheus, capped_hits, "task") == {"count": 1}
        # The API counts the run still waiting (one per workflow, from the store).
        active = 'max by (workflow) (segue_runs_active{job="segue-api"})'
        assert vector(prometheus, active, "workflow") == {names["approval"]: 1}
        idle = "max by (workflow) (segue_runs_oldest_idle_seconds)"
        assert list(vector(prometheus, idle, "workflow")) == [names["approval"]]
        lag = vector(prometheus, "segue_trace_sink_lag_seconds", "job")
        assert list(lag) == ["segue-worker"] and 0 <= lag["segue-worker"] < 60

    eventually(runs, "runs as run")

    # Every alert rule is loaded and has been evaluated on these series without error.
    def rules_ok() -> None:
        groups = prometheus.get("/api/v1/rules").json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        assert rules and all(rule["health"] == "ok" for rule in rules), rules
        assert all(rule["lastEvaluation"] > "2000" for rule in rules), rules
        # The worker answers and the trace store keeps up: those two stay quiet.
        states = {rule["name"]: rule["state"] for rule in rules}
        assert states["SegueWorkerDown"] == states["SegueTraceSinkLag"] == "inactive"

    eventually(rules_ok, "every rule evaluated")


def dashboard_expressions() -> list[str]:
    home = environment_of(GRAFANA)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    dashboard = json.loads(mounted_file(GRAFANA, home).read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def panel_problem(prometheus: httpx.Client, expression: str) -> str | None:
    """Why a panel's query would show nothing, or None: Prometheus refuses it, it finds
    no series, or its rows lack a label it groups by (a misspelt label)."""
    answer = query(prometheus, expression)
    if answer["status"] != "success":
        return f"{answer['errorType']}: {answer['error']}"
    rows = answer["data"]["result"]
    if not rows:
        return "no data"
    grouped = re.match(r"^\s*(?:histogram_quantile\([^,]+,\s*)?\w+ by \(([^)]*)\)", expression)
    labels = {label.strip() for label in grouped[1].split(",")} - {"le"} if grouped else set()
    for row in rows:
        missing = labels - set(row["metric"])
        if missing:
            return f"rows without {sorted(missing)}"
    return None


def test_every_dashboard_query_answers_with_data(stack: Stack) -> None:
    """After the fixture's runs, each panel shows something: a typo in a query
    or a metric or label name that does not exist fails here."""
    prometheus = stack.prometheus
    expressions = dashboard_expressions()
    assert len(expressions) >= 10

    def all_answer() -> None:
        problems = {expr: panel_problem(prometheus, expr) for expr in expressions}
        assert not {expr: why for expr, why in problems.items() if why}, problems

    eventually(all_answer, "every panel answers")
    # The check has teeth: a syntax error, a misspelt metric, a misspelt label.
    attempts = "sum by (action, error_type) (rate(segue_task_attempts_total[5m])) * 60"
    assert panel_problem(prometheus, attempts) is None
    assert panel_problem(prometheus, attempts.replace("[5m]))", "[5m])"))
    assert panel_problem(prometheus, attempts.replace("attempts", "attempt")) == "no data"
    assert panel_problem(prometheus, attempts.replace("error_type)", "error_typ)")) == (
        "rows without ['error_typ']"
    )
