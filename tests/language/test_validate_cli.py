"""`segue validate`: one line per finding, a summary per file, exit 1 on errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from engine.cli.validate import run_validate

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
