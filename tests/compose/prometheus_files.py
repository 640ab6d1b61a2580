"""Compose's Prometheus files made runnable outside a container: the config with the
paths compose mounts replaced by the repository files (and a token file of the test's),
for `promtool` and for a real `prometheus` server on loopback (deploy/prometheus)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compose.test_observability import PROMETHEUS, flag, mounted_file, prometheus_config

# Debian's `prometheus` package (bookworm: 2.42) gives both; .ci/run installs it.
PACKAGE_HINT = "install Debian's `prometheus` package (apt-get install prometheus; .ci/run does)"


def binary(name: str) -> str:
    """The path of `prometheus` or `promtool`, or the test is skipped saying why."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"`{name}` is not on PATH: {PACKAGE_HINT}")
    return found


def rule_files() -> list[Path]:
    """The repository files behind the config's `rule_files` (container paths)."""
    return [mounted_file(PROMETHEUS, path) for path in prometheus_config()["rule_files"]]


def token_file_in(data_dir: Path) -> Path:
    """Where compose's entrypoint writes the API token, with `data_dir` as the TSDB path
    (the file is inside the data volume: `--storage.tsdb.path`)."""
    storage = flag(PROMETHEUS, "--storage.tsdb.path")
    credentials = str(job_of(prometheus_config(), "segue-api")["authorization"]["credentials_file"])
    assert credentials.startswith(storage.rstrip("/") + "/"), credentials
    return data_dir / credentials[len(storage.rstrip("/")) + 1 :]


def job_of(config: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [job for job in config["scrape_configs"] if job["job_name"] == name]
    return found


def local_config(
    data_dir: Path,
    *,
    api: str | None = None,
    worker: str | None = None,
    interval: str | None = None,
) -> dict[str, Any]:
    """The compose config with host paths: rule files from the repository, the token file
    in `data_dir`. With `api`/`worker` (host:port), the targets become those (the worker
    job's DNS discovery a static target); with `interval`, scrapes and rule evaluations
    run that often. Everything else (paths, authorization, job names) stays as it is."""
    config = prometheus_config()
    config["rule_files"] = [str(path) for path in rule_files()]
    api_job = job_of(config, "segue-api")
    api_job["authorization"]["credentials_file"] = str(token_file_in(data_dir))
    if api is not None:
        api_job["static_configs"] = [{"targets": [api]}]
    if worker is not None:
        worker_job = job_of(config, "segue-worker")
        del worker_job["dns_sd_configs"]
        worker_job["static_configs"] = [{"targets": [worker]}]
    if interval is not None:
        config["global"]["scrape_interval"] = interval
        config["global"]["evaluation_interval"] = interval
    return config


def write_config(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
