"""`schedules:` in a workflow file: what a valid entry means (defaults filled in), and
every way an entry cannot work, each reported at its key with a precise message."""

from __future__ import annotations

import textwrap

import pytest

from engine.diagnostics import Category
from engine.language.loader import check_workflow
from engine.language.schedules import cron_problems
from engine.language.spec import ScheduleSpec

HEAD = """\
version: 1
input:
  host: {type: string, default: a}
tasks:
  a: {action: core.noop}
schedules:
"""


def check(schedules: str) -> list[tuple[int, int, str, str]]:
    text = HEAD + textwrap.indent(textwrap.dedent(schedules), "  ")
    result = check_workflow(text, "w.yaml")
    return [
        (d.position.line, d.position.column, str(d.category), d.message)
        for d in result.diagnostics
        if d.position is not None
    ]


def test_a_valid_schedule_with_its_defaults() -> None:
    text = HEAD + "  often: {every: 300, cron: '0 3 * * MON-FRI', input: {host: b}}\n"
    spec = check_workflow(text, "w.yaml").spec
    assert spec is not None
    assert spec.schedules == (
        ScheduleSpec(
            name="often",
            cron=("0 3 * * MON-FRI",),
            every=300.0,
            timezone="UTC",
            overlap="skip",
            catchup_window=60.0,
            input={"host": "b"},
        ),
    )


INVALID = [
    # (entry, line, column, category, message fragment)
    ("n: {}", 7, 6, "schedule", "schedules.n: a schedule needs `cron` or `every`"),
    ("n: {every: 0.5}", 7, 14, "schema", "from 1 to 31622400"),
    ("n: {every: 60, offset: 60}", 7, 26, "schedule", "`offset` must be less than `every`"),
    ("n: {offset: 5, cron: '@daily'}", 7, 15, "schedule", "`offset` must be less than `every`"),
    ("n: {cron: '* * *'}", 7, 13, "schedule", "has 3 field(s); use five"),
    ("n: {cron: '60 * * * *'}", 7, 13, "schedule", "minute field '60' has a value outside 0..59"),
    ("n: {cron: '* 24 * * *'}", 7, 13, "schedule", "hour field '24'"),
    ("n: {cron: '* * 0 * *'}", 7, 13, "schedule", "day of month field '0'"),
    ("n: {cron: '* * * FOO *'}", 7, 13, "schedule", "month field 'FOO'"),
    ("n: {cron: '* * * * 8'}", 7, 13, "schedule", "day of week field '8'"),
    ("n: {cron: '*/0 * * * *'}", 7, 13, "schedule", "step of 0"),
    ("n: {cron: '@every 5m'}", 7, 13, "schedule", "has 2 field(s)"),
    ("n: {cron: [], every: 5}", 7, 13, "schema", "a cron expression or a list of at most 10"),
    ("n: {every: 5, timezone: Mars/Base}", 7, 27, "schedule", "unknown time zone 'Mars/Base'"),
    ("n: {every: 5, timezone: ../../etc/passwd}", 7, 27, "schedule", "unknown time zone"),
    ("n: {every: 5, start: '2026-01-01T00:00:00'}", 7, 24, "schedule", "with a zone"),
    ("n: {every: 5, end: yesterday}", 7, 22, "schedule", "`end` must be an ISO 8601"),
    (
        "n: {every: 5, start: '2026-02-01T00:00:00Z', end: '2026-01-01T00:00:00+01:00'}",
        7,
        53,
        "schedule",
        "`end` must come after `start`",
    ),
    ("n: {every: 5, overlap: queue}", 7, 26, "schema", "one of skip, buffer_one"),
    ("n: {every: 5, catchup_window: 1}", 7, 33, "schema", "from 10 to 31622400"),
    ("n: {every: 5, jitter: -1}", 7, 25, "schema", "from 0 to 86400"),
    ("n: {every: 5, evry: 5}", 7, 17, "schema", "unknown key 'evry'"),
    ("bad.name: {every: 5}", 7, 3, "schema", "bad.name"),
]


@pytest.mark.parametrize(("entry", "line", "column", "category", "fragment"), INVALID)
def test_invalid_schedules(
    entry: str, line: int, column: int, category: str, fragment: str
) -> None:
    found = check(entry + "\n")
    assert any(
        (found_line, found_column, found_category) == (line, column, category)
        and fragment in message
        for found_line, found_column, found_category, message in found
    ), found


def test_at_most_twenty_schedules() -> None:
    entries = "".join(f"s{index}: {{every: 60}}\n" for index in range(21))
    assert any("at most 20" in message for *_, message in check(entries))


@pytest.mark.parametrize(
    "expression",
    ["0 3 * * MON-FRI", "*/5 * * * *", "0 0 1,15 JAN-JUN/2 *", "@hourly", "30 2 * * 0-7"],
)
def test_cron_expressions_that_work(expression: str) -> None:
    assert cron_problems(expression) == []


def test_category_is_schedule() -> None:
    assert Category.SCHEDULE == "schedule"
