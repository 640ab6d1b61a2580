"""`segue validate`: one line per finding, a summary per file, exit 1 on errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from api.validation import check_for_registration
from engine.actions.catalog import ActionCatalog
from engine.cli.validate import run_validate
from engine.diagnostics import Category, Position, Severity
from tests.support.processes import run_segue

GOOD = "version: 1\ntasks:\n  hello: {action: core.echo}\n"
WARNED = "version: 1\ntasks:\n  hello: {action: core.echo, input: <% $ctx.who %>}\n"
BAD = "version: 1\ntasks:\n  a: {next: [{do: b}]}\n  noop: {}\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, text in {"good": GOOD, "warned": WARNED, "bad": BAD}.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        paths[name] = str(path)
    return paths


def _run(files: list[str], *, as_json: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = run_validate(files, as_json=as_json, out=out)
    return code, out.getvalue()


def test_valid_file(files: dict[str, str]) -> None:
    assert _run([files["good"]]) == (0, f"{files['good']}: ok\n")


def test_warnings_do_not_fail(files: dict[str, str]) -> None:
    code, text = _run([files["warned"]])
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith(
        f"{files['warned']}:3:40: warning[context]: task 'hello': input reads $ctx.who"
    )
    assert lines[1] == f"{files['warned']}: ok (1 warning)"


def test_errors_fail_and_every_file_is_reported(files: dict[str, str]) -> None:
    code, text = _run([files["bad"], files["good"]])
    assert code == 1
    assert text.splitlines() == [
        f"{files['bad']}:3:19: error[reference]: task 'a': next[0].do: no task named 'b'",
        f"{files['bad']}:4:3: error[name]: task name 'noop' is reserved: continue, fail, noop "
        "and retry are engine commands in `do`",
        f"{files['bad']}: 2 errors",
        f"{files['good']}: ok",
    ]


def test_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    code, text = _run([missing])
    assert code == 1
    assert "error[file]" in text and "cannot read" in text
    assert text.splitlines()[-1] == f"{missing}: 1 error"


def test_json_report(files: dict[str, str]) -> None:
    code, text = _run([files["good"], files["warned"], files["bad"]], as_json=True)
    assert code == 1
    report = json.loads(text)
    assert [(f["file"], f["valid"], len(f["diagnostics"])) for f in report["files"]] == [
        (files["good"], True, 0),
        (files["warned"], True, 1),
        (files["bad"], False, 2),
    ]
    assert report["files"][2]["diagnostics"][0] == {
        "file": files["bad"],
        "line": 3,
        "column": 19,
        "severity": "error",
        "category": "reference",
        "message": "task 'a': next[0].do: no task named 'b'",
    }


def test_prints_to_stdout_by_default(
    files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_validate([files["good"]]) == 0
    assert capsys.readouterr().out == f"{files['good']}: ok\n"


# --- as a user types it: `segue validate` in its own process ---------------------------

MAIN = """\
version: 1
tasks:
  a:
    action: core.ecoh
    next: [{do: b}]
  b:
    workflow: helper
    next: [{do: c}]
  c:
    workflow: elsewhere
  orphan:
    action: core.echo
    next: [{do: orphan}]
"""
HELPER = "version: 1\ntasks: {x: {action: core.noop}}\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "main.yaml").write_text(MAIN)
    (tmp_path / "helper.yaml").write_text(HELPER)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "elsewhere.yml").write_text(HELPER)
    return tmp_path


def test_the_cli_makes_the_checks_registration_makes(project: Path) -> None:
    done = run_segue("validate", str(project / "main.yaml"))
    assert done.returncode == 1, done.stderr
    main = project / "main.yaml"
    assert done.stdout.splitlines() == [
        f"{main}:4:5: error[reference]: task 'a': unknown action 'core.ecoh' (not installed "
        "here); did you mean 'core.echo'?",
        f"{main}:10:5: warning[reference]: task 'c': workflow 'elsewhere' is not a workflow "
        "file beside this one or in --workflows",
        f"{main}:11:3: warning[graph]: task 'orphan' is unreachable: no path leads to it from "
        "the entry tasks (a), so it never runs",
        f"{main}: note: child workflows were looked up as files (beside the file and in "
        "--workflows); which ones are registered is known only to a server "
        "(POST /workflows/validate)",
        f"{main}: 1 error, 2 warnings",
    ]
    # The API's check, with `helper` registered, finds the same (its own wording for a
    # child that is not registered).
    registered = check_for_registration(
        MAIN.encode(), "main", ActionCatalog.from_environment(), {"helper"}
    )
    assert [(d.position, d.category, d.severity) for d in registered.diagnostics] == [
        (Position("main.yaml", 4, 5), Category.REFERENCE, Severity.ERROR),
        (Position("main.yaml", 10, 5), Category.REFERENCE, Severity.WARNING),
        (Position("main.yaml", 11, 3), Category.GRAPH, Severity.WARNING),
    ]
    assert registered.diagnostics[0].message in done.stdout
    assert "workflow 'elsewhere' is not registered (yet)" in registered.diagnostics[1].message
    assert registered.notes == ()


def test_child_workflows_in_another_directory_and_as_json(project: Path) -> None:
    fixed = MAIN.replace("core.ecoh", "core.echo")
    (project / "main.yaml").write_text(fixed)
    done = run_segue(
        "validate", "--workflows", str(project / "shared"), "--json", str(project / "main.yaml")
    )
    assert done.returncode == 0, done.stderr
    [report] = json.loads(done.stdout)["files"]
    assert report["valid"] is True
    assert [d["category"] for d in report["diagnostics"]] == ["graph"]  # the orphan
    assert report["notes"] == [
        "child workflows were looked up as files (beside the file and in --workflows); "
        "which ones are registered is known only to a server (POST /workflows/validate)"
    ]


def test_a_missing_workflows_directory_is_a_usage_error(project: Path) -> None:
    done = run_segue("validate", "--workflows", str(project / "nope"), str(project / "main.yaml"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"segue validate: --workflows {project / 'nope'}: not a directory\n"


def test_schema_and_semantic_errors_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        "version: 1\nstart: [a, a]\ntasks:\n  a:\n    action: core.echo\n    timout: 3\n"
        "    next: [{do: b}]\n"
    )
    done = run_segue("validate", str(path))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{path}:2:12: error[graph]: start: task 'a' is listed more than once; each entry "
        "task starts once",
        f"{path}:6:5: error[schema]: task 'a': unknown key 'timout' (did you mean 'timeout'?)",
        f"{path}:7:17: error[reference]: task 'a': next[0].do: no task named 'b'",
        f"{path}: 3 errors",
    ]
