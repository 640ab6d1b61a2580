"""Compose's Prometheus config and alert rules checked by Prometheus's own `promtool`:
the config and the rules load, and each alert fires on its situation and not on its
near misses in `deploy/prometheus/alerts.test.yml` (`promtool test rules`, the real
rule engine on made-up series)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.compose.prometheus_files import (
    binary,
    local_config,
    rule_files,
    token_file_in,
    write_config,
)

RULE_TESTS = {path: path.with_name(path.stem + ".test.yml") for path in rule_files()}


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def test_the_config_passes_promtool_check_config(tmp_path: Path) -> None:
    # The token file is checked for existence: it is there in the container (written by
    # the entrypoint before Prometheus starts), so it is here too.
    token = token_file_in(tmp_path)
    token.write_text("a-token")
    config = write_config(local_config(tmp_path), tmp_path / "prometheus.yml")
    checked = promtool("check", "config", config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The rule files the config names were found and checked with it, none skipped.
    output = checked.stdout + checked.stderr
    assert "WARNING" not in output, output
    for path in rule_files():
        assert f"Checking {path}" in output and "SUCCESS" in output, output


def test_the_rules_pass_promtool_check_rules() -> None:
    for path in rule_files():
        checked = promtool("check", "rules", path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "SUCCESS" in checked.stdout, checked.stdout


def test_every_alert_fires_in_its_unit_test() -> None:
    for rules, tests in RULE_TESTS.items():
        alerts = {
            rule["alert"]
            for group in yaml.safe_load(rules.read_text())["groups"]
            for rule in group["rules"]
            if "alert" in rule
        }
        cases = yaml.safe_load(tests.read_text())
        assert cases["rule_files"] == [rules.name]
        firing = {
            check["alertname"]
            for case in cases["tests"]
            for check in case["alert_rule_test"]
            if check["exp_alerts"]
        }
        quiet = {
            check["alertname"]
            for case in cases["tests"]
            for check in case["alert_rule_test"]
            if not check["exp_alerts"]
        }
        # Each alert is shown to fire, and shown not to fire (pending, or a near miss).
        assert alerts == firing == quiet, (alerts, firing, quiet)
        tested = promtool("test", "rules", tests.name, cwd=tests.parent)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "SUCCESS" in tested.stdout


def test_the_unit_tests_have_teeth(tmp_path: Path) -> None:
    """A threshold moved in the rules fails the unit tests, naming the alert."""
    for rules, tests in RULE_TESTS.items():
        shutil.copy(tests, tmp_path / tests.name)
        text = rules.read_text()
        assert text.count("> 3600") == 1
        (tmp_path / rules.name).write_text(text.replace("> 3600", "> 7200"))
        tested = promtool("test", "rules", tests.name, cwd=tmp_path)
        assert tested.returncode != 0
        assert "SegueRunsStuck" in tested.stdout + tested.stderr
