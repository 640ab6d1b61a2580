"""`ctx.log`, `ctx.progress`, `ctx.artifact`: what reaches the host, and the precise error
each bad argument raises in the action's own call."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from engine.actions import ActionContext
from engine.actions.reporting import MAX_ARTIFACT_BYTES
from tests.actions.conftest import Recorder


@pytest.mark.parametrize(
    ("args", "data", "reported"),
    [
        (("info", "hello"), {}, ("info", "hello", None)),
        (("debug", ""), {"n": 1, "tags": ("a", "b")}, ("debug", "", {"n": 1, "tags": ["a", "b"]})),
        (("warn", "w"), {"nested": {"x": None}}, ("warn", "w", {"nested": {"x": None}})),
        (("error", "e"), {}, ("error", "e", None)),
    ],
)
def test_log_lines_reach_the_host(
    recorder: Recorder, args: tuple[str, str], data: dict[str, Any], reported: Any
) -> None:
    recorder.context().log(*args, **data)
    assert recorder.logs == [reported]


@pytest.mark.parametrize(
    ("args", "data", "error", "match"),
    [
        (("warning", "x"), {}, ValueError, "level must be one of debug, info, warn, error"),
        (("INFO", "x"), {}, ValueError, "got 'INFO'"),
        ((None, "x"), {}, ValueError, "level"),
        (("info", b"bytes"), {}, TypeError, "message must be a str, got bytes"),
        (("info", 42), {}, TypeError, "got int"),
        (("info", "x"), {"when": object()}, ValueError, "ctx.log data.when: a value of type"),
        (("info", "x"), {"nan": math.nan}, ValueError, "is not a JSON number"),
        (("info", "x"), {"keys": {1: 2}}, ValueError, "key 1 is not a string"),
    ],
)
def test_bad_log_calls_fail_where_they_are_made(
    recorder: Recorder, args: Any, data: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        recorder.context().log(*args, **data)
    assert recorder.logs == []


def test_deeply_nested_log_data_is_refused(recorder: Recorder) -> None:
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper than 200 levels"):
        recorder.context().log("info", "deep", value=deep)


@pytest.mark.parametrize(
    ("args", "reported"),
    [
        ((0,), (0, None, None)),
        ((3, 10), (3, 10, None)),
        ((10, 10, "done"), (10, 10, "done")),
        ((2.5, None, "m" * 5000), (2.5, None, "m" * 1000)),  # a message is cut, not refused
    ],
)
def test_progress_reaches_the_host(recorder: Recorder, args: Any, reported: Any) -> None:
    recorder.context().progress(*args)
    assert recorder.progress == [reported]


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((-1,), ValueError, "done must be a finite number >= 0, got -1"),
        ((math.inf,), ValueError, "done must be a finite number"),
        ((math.nan, 3), ValueError, "done must be"),
        ((True,), ValueError, "done must be"),
        (("3",), ValueError, "done must be"),
        ((1, -2), ValueError, "total must be a finite number >= 0, got -2"),
        ((1, math.inf), ValueError, "total must be"),
        ((5, 3), ValueError, r"done \(5\) is more than total \(3\)"),
        ((1, 2, 3), TypeError, "message must be a str, got int"),
    ],
)
def test_bad_progress_calls_fail(
    recorder: Recorder, args: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        recorder.context().progress(*args)
    assert recorder.progress == []


def test_artifacts_from_bytes_text_and_files(recorder: Recorder, tmp_path: Path) -> None:
    context = recorder.context()
    context.artifact("raw.bin", b"\x00\x01")
    context.artifact("notes.txt", "héllo")
    context.artifact("page.html", bytearray(b"<p>"), "TEXT/HTML; charset=utf-8")
    (tmp_path / "report.csv").write_text("a,b\n")
    context.artifact("report.csv", tmp_path / "report.csv")
    context.artifact("data", b"{}", "application/json")
    assert recorder.artifacts == [
        ("raw.bin", b"\x00\x01", "application/octet-stream"),
        ("notes.txt", "héllo".encode(), "text/plain; charset=utf-8"),
        ("page.html", b"<p>", "text/html; charset=utf-8"),
        ("report.csv", b"a,b\n", "text/csv"),
        ("data", b"{}", "application/json"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "media_type", "error", "match"),
    [
        ("", b"", None, ValueError, "name must be 1-200 characters"),
        ("../etc/passwd", b"", None, ValueError, "name must be"),
        ("a/b", b"", None, ValueError, "name must be"),
        ('a"b', b"", None, ValueError, "name must be"),
        (".hidden", b"", None, ValueError, "starting with a letter or digit"),
        ("x" * 201, b"", None, ValueError, "name must be"),
        ("a\nb", b"", None, ValueError, "name must be"),
        (7, b"", None, ValueError, "name must be"),
        ("a.txt", b"", "text", ValueError, "media_type must look like 'type/subtype'"),
        ("a.txt", b"", "text/html\r\nX: y", ValueError, "media_type"),
        ("a.txt", 12, None, TypeError, "content must be bytes, a str or a path, got int"),
        ("a.txt", None, None, TypeError, "got NoneType"),
        ("big.bin", b"x" * (MAX_ARTIFACT_BYTES + 1), None, ValueError, "at most 10,485,760"),
    ],
)
def test_bad_artifacts_fail(
    recorder: Recorder,
    name: Any,
    content: Any,
    media_type: Any,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        recorder.context().artifact(name, content, media_type)
    assert recorder.artifacts == []


def test_a_file_artifact_over_the_cap_is_refused_before_it_is_read(
    recorder: Recorder, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as file:
        file.truncate(MAX_ARTIFACT_BYTES + 1)  # sparse: nothing to read, only a size
    with pytest.raises(ValueError, match=r"big\.bin' is 10,485,761 bytes"):
        recorder.context().artifact("big.bin", big)
    with pytest.raises(ValueError, match="cannot read"):
        recorder.context().artifact("gone.bin", tmp_path / "gone.bin")


def test_a_context_without_a_host_reports_nowhere() -> None:
    context = ActionContext(run_id="r", workflow="w", task="t")
    context.log("info", "x", a=1)
    context.progress(1, 2)
    context.artifact("a.txt", "x")
