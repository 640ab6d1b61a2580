"""The monitoring half of compose.yaml: Prometheus scrapes the API (with its token) and
every worker replica at the address the workers serve, the alert rules and the Grafana
dashboard use only metrics Segue exports, and docs/operations.md lists every metric the
code defines (deploy/prometheus, deploy/grafana)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.temporal.worker_config import WorkerConfig
from tests.compose.test_compose import (
    ENVIRONMENT,
    ROOT,
    SERVICES,
    command_words,
    environment_of,
    interpolate,
)

PROMETHEUS = SERVICES["prometheus"]
GRAFANA = SERVICES["grafana"]
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> the repository path bound there (bind mounts only)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith("./"):
            found[target] = ROOT / source
    return found


def flag(service: dict[str, Any], name: str) -> str:
    (value,) = [word.split("=", 1)[1] for word in command_words(service) if word.startswith(name)]
    return value


def mounted_file(service: dict[str, Any], container_path: str) -> Path:
    """The repository file a container path shows (itself or inside a mounted folder)."""
    for target, source in mounts(service).items():
        if container_path == target:
            return source
        if container_path.startswith(target.rstrip("/") + "/"):
            return source / container_path[len(target.rstrip("/")) + 1 :]
    raise AssertionError(f"{container_path} is not mounted")


def prometheus_config() -> dict[str, Any]:
    path = mounted_file(PROMETHEUS, flag(PROMETHEUS, "--config.file"))
    config: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return config


def job(name: str) -> dict[str, Any]:
    (found,) = [job for job in prometheus_config()["scrape_configs"] if job["job_name"] == name]
    return found


def documented_metrics() -> set[str]:
    return set(re.findall(r"^\| `(segue_[a-z_]+)` \|", OPERATIONS, re.MULTILINE))


def metric_names(expression: str) -> set[str]:
    """The `segue_*` series an expression reads, without histogram suffixes."""
    names = set(re.findall(r"\b(segue_[a-z_]+)", expression))
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}


def test_prometheus_scrapes_every_worker_where_workers_serve() -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment_of(SERVICES["worker"]).items():
            patch.setenv(name, value)
        config = WorkerConfig.from_env()
    assert config.metrics_address is not None, "workers must serve /metrics"
    host, port = config.metrics_address.rsplit(":", 1)
    assert host == "0.0.0.0"  # reachable from the prometheus container
    (discovery,) = job("segue-worker")["dns_sd_configs"]
    # The service name resolves to every replica: `--scale worker=N` needs no change.
    assert discovery["names"] == ["worker"] and discovery["type"] == "A"
    assert discovery["port"] == int(port)
    assert job("segue-worker").get("metrics_path", "/metrics") == "/metrics"


def test_prometheus_scrapes_the_api_with_its_token() -> None:
    api = job("segue-api")
    words = command_words(SERVICES["api"])
    port = words[words.index("--port") + 1]
    assert api["static_configs"] == [{"targets": [f"api:{port}"]}]
    assert api["metrics_path"] == "/metrics"
    assert api["authorization"]["type"] == "Bearer"
    token_file = api["authorization"]["credentials_file"]
    assert token_file.startswith(flag(PROMETHEUS, "--storage.tsdb.path") + "/")
    assert " ".join(PROMETHEUS["entrypoint"]).count(token_file) == 1
    assert environment_of(PROMETHEUS)["SEGUE_API_TOKEN"] == ENVIRONMENT["SEGUE_API_TOKEN"]


@pytest.mark.parametrize(
    ("tokens", "written"),
    [("one-token", "one-token"), ("first-token,second-token", "first-token")],
)
def test_the_entrypoint_writes_the_first_token_and_starts_prometheus(
    tokens: str, written: str, tmp_path: Path
) -> None:
    """The container's entrypoint, run by /bin/sh with Prometheus replaced by `echo`."""
    token_file = job("segue-api")["authorization"]["credentials_file"]
    shell, option, script, name = interpolate(PROMETHEUS["entrypoint"], ENVIRONMENT)
    assert (shell, option) == ("/bin/sh", "-c")
    script = script.replace(token_file, str(tmp_path / "token"))
    script = script.replace("exec /bin/prometheus", "exec echo started:")
    flags = command_words(PROMETHEUS)
    done = subprocess.run(
        [shell, option, script, name, *flags],
        env={"SEGUE_API_TOKEN": tokens, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert done.stdout.split() == ["started:", *flags]
    assert (tmp_path / "token").read_text() == written
    assert (tmp_path / "token").stat().st_mode & 0o077 == 0  # umask 077: owner only


def test_alert_rules_load_and_read_documented_metrics() -> None:
    config = prometheus_config()
    rules = []
    for rule_file in config["rule_files"]:
        document = yaml.safe_load(mounted_file(PROMETHEUS, rule_file).read_text())
        rules += [rule for group in document["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in rules}
    # The starter set docs/operations.md promises: stuck runs, retry storms, sink lag.
    assert {"SegueRunsStuck", "SegueRetryStorm", "SegueTraceSinkLag"} <= names
    for rule in rules:
        assert rule["expr"].strip() and re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        unknown = metric_names(rule["expr"]) - documented_metrics()
        assert not unknown, (rule["alert"], unknown)
        assert rule["alert"] in OPERATIONS, f"{rule['alert']} is not in docs/operations.md"


def test_grafana_shows_the_provisioned_dashboard_from_the_prometheus_beside_it() -> None:
    provisioning = mounted_file(GRAFANA, "/etc/grafana/provisioning")
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    port = PROMETHEUS["ports"][0].rsplit(":", 1)[1]
    assert source["url"] == f"http://prometheus:{port}" and source["type"] == "prometheus"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "segue.yml").read_text())[
        "providers"
    ]
    folder = mounted_file(GRAFANA, provider["options"]["path"])
    home = environment_of(GRAFANA)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    dashboard = json.loads(mounted_file(GRAFANA, home).read_text())
    assert mounted_file(GRAFANA, home).parent == folder
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert expressions
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
    read = set().union(*(metric_names(expression) for expression in expressions))
    assert not read - documented_metrics(), read - documented_metrics()
    # The metrics the alerts are about are on the dashboard too.
    assert {"segue_runs_oldest_idle_seconds", "segue_task_attempts_total"} <= read
    assert "segue_trace_sink_lag_seconds" in read


def test_every_metric_the_code_defines_is_documented() -> None:
    defined = set()
    for path in [*(ROOT / "engine").rglob("*.py"), *(ROOT / "api").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        defined |= set(re.findall(r"(?:create_\w+|MetricFamily)\(\s*\"(segue_[a-z_]+)\"", text))
    assert len(defined) >= 13, defined  # the scan finds the definitions at all
    assert not defined - documented_metrics(), defined - documented_metrics()


def test_the_monitoring_ports_stay_on_loopback() -> None:
    for service in (PROMETHEUS, GRAFANA):
        for port in service["ports"]:
            assert str(port).startswith("127.0.0.1:"), port  # neither has a login by default
