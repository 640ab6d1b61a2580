"""`segue validate` knows the installed action names without loading the catalog when no
plugin is installed (engine/action_names.py), and answers exactly as the catalog does:
the same names, the same findings, with and without a plugin."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from engine.action_names import (
    BUILTIN_ACTION_NAMES,
    BUILTIN_WORKFLOW_ACTIONS,
    ENTRY_POINT_GROUP,
    _may_have_plugins,
    installed_action_names,
)
from engine.actions import ActionCatalog, Placement
from engine.actions.builtin import builtin_actions
from tests.support.devstack import SEGUE
from tests.support.processes import ROOT, clean_env

USES_PLUGIN = """\
version: 1
tasks:
  greet:
    action: acme.hello
  typo:
    action: acme.helo
"""
PLUGIN = """\
def hello(input, context):
    return {"hello": input.get("name", "world")}
"""


def test_the_list_is_the_builtins() -> None:
    assert {d.name for d in builtin_actions(allow_shell=True)} == BUILTIN_ACTION_NAMES
    carried_out_by_the_workflow = {
        d.name for d in builtin_actions(allow_shell=True) if d.placement is Placement.WORKFLOW
    }
    assert carried_out_by_the_workflow == BUILTIN_WORKFLOW_ACTIONS
    assert set(ActionCatalog.from_environment(entry_points=[]).names()) == BUILTIN_ACTION_NAMES


def test_the_scan_never_misses_what_importlib_metadata_finds() -> None:
    if metadata.entry_points(group=ENTRY_POINT_GROUP):
        assert _may_have_plugins()
    names, problems = installed_action_names()
    catalog = ActionCatalog.from_environment()
    assert problems == catalog.problems
    for name in [*catalog.names(), "acme.hello", "core.ech", "request"]:
        assert (name in names) == (name in catalog)
        assert names.suggest(name) == catalog.suggest(name)


def install_plugin(site: Path, module: str) -> None:
    """A distribution as pip leaves it: a module and its dist-info with entry points."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "acme_actions.py").write_text(module)
    info = site / "acme_actions-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-actions\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nacme.hello = acme_actions:hello\n"
    )


def validate(file: Path, site: Path | None) -> subprocess.CompletedProcess[str]:
    env = clean_env(PYTHONPATH=str(site)) if site else clean_env()
    return subprocess.run(
        [SEGUE, "validate", str(file)], env=env, cwd=ROOT, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("plugin", "status", "expected"),
    [
        (None, 1, ["unknown action 'acme.hello'", "unknown action 'acme.helo'"]),
        (PLUGIN, 1, ["unknown action 'acme.helo'", "did you mean 'acme.hello'"]),
        ("raise ImportError('no such thing')", 1, ["could not be loaded: ImportError"]),
    ],
    ids=["no plugin", "plugin", "broken plugin"],
)
def test_validate_sees_installed_plugins(
    tmp_path: Path, plugin: str | None, status: int, expected: list[str]
) -> None:
    file = tmp_path / "greet.yaml"
    file.write_text(USES_PLUGIN)
    site = None
    if plugin is not None:
        site = tmp_path / "site"
        install_plugin(site, plugin)
    checked = validate(file, site)
    output = checked.stdout + checked.stderr
    assert checked.returncode == status, output
    for text in expected:
        assert text in output
    if plugin == PLUGIN:
        assert "'acme.hello'" not in output.replace("did you mean 'acme.hello'", "")


def test_validate_of_a_small_file_loads_no_action_code() -> None:
    """What the start-up figure rests on (docs/performance.md): no catalog, no httpx."""
    probe = (
        "import sys; from api.cli import main; code = main(['validate', "
        "'examples/monitoring.yaml']); loaded = [m for m in ('engine.actions', 'httpx', "
        "'asyncio', 'importlib.metadata') if m in sys.modules]; print(code, loaded)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=clean_env(), cwd=ROOT, capture_output=True, text=True
    )
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr
