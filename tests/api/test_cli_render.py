"""What the client commands print: problem JSON as lines, one status vocabulary."""

from __future__ import annotations

import pytest

from api.cli_render import UnknownChoice, parse_status, problem_lines, status_word


def test_input_problem_reads_as_lines() -> None:
    problem = {
        "code": "INPUT_INVALID",
        "title": "The run input does not match the workflow's input schema",
        "detail": "the input does not match the schema",
        "errors": [{"path": "/max_checks", "reason": "-1 is less than the minimum of 1"}],
    }
    assert problem_lines(422, problem) == [
        "the input does not match the schema [INPUT_INVALID]",
        "  /max_checks: -1 is less than the minimum of 1",
    ]


def test_diagnostics_and_waiting_tasks_are_kept() -> None:
    problem = {
        "code": "TASK_NOT_WAITING",
        "detail": "task 'approv' is not waiting for a signal",
        "waiting": ["approve"],
        "errors": [
            {"file": "a.yaml", "line": 3, "column": 5, "category": "schema", "message": "bad"}
        ],
    }
    assert problem_lines(409, problem) == [
        "task 'approv' is not waiting for a signal [TASK_NOT_WAITING]",
        "  a.yaml:3:5: schema: bad",
        "  waiting tasks: approve",
    ]


@pytest.mark.parametrize(
    ("typed", "wire"),
    [
        ("failed", "FAILED"),
        ("FAILED", "FAILED"),
        ("Succeeded", "COMPLETED"),
        ("completed", "COMPLETED"),
        ("canceled", "CANCELLED"),
        ("CANCELLED", "CANCELLED"),
        ("timed-out", "TIMED_OUT"),
    ],
)
def test_status_words_in_any_case(typed: str, wire: str) -> None:
    assert parse_status(typed) == wire


def test_unknown_status_lists_the_allowed_words() -> None:
    with pytest.raises(UnknownChoice, match="allowed: queued, running, paused, succeeded"):
        parse_status("done")


def test_the_cli_shows_the_language_words() -> None:
    assert [status_word(s) for s in ("COMPLETED", "FAILED", "CANCELLED")] == [
        "succeeded",
        "failed",
        "canceled",
    ]
