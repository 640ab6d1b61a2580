"""A workflow's `schedules`: the schema-valid mapping read into `ScheduleSpec`s, with the
checks the schema cannot make (cron fields, the time zone, start before end).

The API reads schedules it is given directly (`POST /workflows/{name}/schedules`) with
the same functions, so a schedule means the same in a file and in a request."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from engine.diagnostics import Category, Diagnostic
from engine.language.spec import ScheduleSpec
from engine.language.wording import Path, subject
from engine.language.yaml_source import SourceMap

# A monitoring loop should not replay a year of missed starts after an outage (Temporal's
# own default): a minute late is still "now", more is skipped.
DEFAULT_CATCHUP_SECONDS: Final = 60.0
CRON_MACROS: Final = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_MONTHS: Final = (
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
)
_DAYS: Final = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (what, lowest, highest, names) per field of a five-field cron expression.
_CRON_FIELDS: Final = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_CRON_PART: Final = re.compile(r"(?:(\*|\?)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/([0-9]+))?")

Problem = tuple[Path, str]  # (path inside the schedule, message)


def schedule_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """What makes a schema-valid schedule unusable, each at its key."""
    problems: list[Problem] = []
    if "cron" not in raw and "every" not in raw:
        problems.append(((), "a schedule needs `cron` or `every` (or both)"))
    crons = raw.get("cron")
    for index, expression in enumerate([crons] if isinstance(crons, str) else crons or []):
        path: Path = ("cron",) if isinstance(crons, str) else ("cron", index)
        problems += [(path, message) for message in cron_problems(expression)]
    every, offset = raw.get("every"), raw.get("offset")
    if offset is not None and (every is None or offset >= every):
        problems.append((("offset",), "`offset` must be less than `every`"))
    zone = raw.get("timezone")
    if zone is not None and not _known_zone(zone):
        problems.append((("timezone",), f"unknown time zone {zone!r} (an IANA name)"))
    bounds = {key: _instant(raw[key]) for key in ("start", "end") if key in raw}
    for key, value in bounds.items():
        if value is None:
            problems.append(((key,), f"`{key}` must be an ISO 8601 date-time with a zone"))
    start, end = bounds.get("start"), bounds.get("end")
    if start is not None and end is not None and start >= end:
        problems.append((("end",), "`end` must come after `start`"))
    return problems


def cron_problems(expression: str) -> list[str]:
    """Why a cron expression cannot be used, or nothing."""
    text = expression.strip()
    if text in CRON_MACROS:
        return []
    fields = text.split()
    if len(fields) != 5:
        return [
            f"cron {expression!r} has {len(fields)} field(s); use five (minute hour "
            "day-of-month month day-of-week) or one of " + ", ".join(sorted(CRON_MACROS))
        ]
    return [
        f"cron {expression!r}: {problem}"
        for field, rule in zip(fields, _CRON_FIELDS, strict=True)
        for problem in _field_problems(field, *rule)
    ]


def _field_problems(
    field: str, what: str, lowest: int, highest: int, names: tuple[str, ...]
) -> Iterator[str]:
    for part in field.split(","):
        match = _CRON_PART.fullmatch(part)
        if match is None:
            yield f"the {what} field {field!r} is not a list of values, ranges and steps"
            return
        values = [_cron_value(value, names) for value in match.group(2, 3) if value]
        if any(value is None or not lowest <= value <= highest for value in values):
            yield f"the {what} field {field!r} has a value outside {lowest}..{highest}"
            return
        if match[4] is not None and int(match[4]) == 0:
            yield f"the {what} field {field!r} has a step of 0"
            return


def _cron_value(text: str, names: tuple[str, ...]) -> int | None:
    if text.isdigit():
        return int(text)
    upper = text.upper()
    if upper in names:
        return names.index(upper) + (1 if len(names) == 12 else 0)
    return None


def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _instant(text: Any) -> datetime | None:
    """An aware date-time, or None for anything else (a naive one would mean the
    server's zone, which no one reading the file can know)."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def read_schedule(name: str, raw: Mapping[str, Any]) -> ScheduleSpec:
    """A schedule with no `schedule_problems`, as a spec (defaults filled in)."""
    crons = raw.get("cron")
    return ScheduleSpec(
        name=name,
        cron=tuple(c.strip() for c in ([crons] if isinstance(crons, str) else crons or ())),
        every=float(raw["every"]) if "every" in raw else None,
        offset=float(raw.get("offset", 0)),
        timezone=str(raw.get("timezone", "UTC")),
        jitter=float(raw.get("jitter", 0)),
        start=raw.get("start"),
        end=raw.get("end"),
        overlap=str(raw.get("overlap", "skip")),
        catchup_window=float(raw.get("catchup_window", DEFAULT_CATCHUP_SECONDS)),
        paused=bool(raw.get("paused", False)),
        note=str(raw.get("note", "")),
        input=dict(raw.get("input") or {}),
    )


def schedule_to_json(spec: ScheduleSpec) -> dict[str, Any]:
    """The declared form of a schedule (the keys of the file), defaults included."""
    declared: dict[str, Any] = {
        "overlap": spec.overlap,
        "timezone": spec.timezone,
        "jitter": spec.jitter,
        "catchup_window": spec.catchup_window,
        "paused": spec.paused,
        "input": spec.input,
    }
    if spec.cron:
        declared["cron"] = list(spec.cron)
    if spec.every is not None:
        declared["every"] = spec.every
        declared["offset"] = spec.offset
    for key in ("start", "end"):
        if getattr(spec, key) is not None:
            declared[key] = getattr(spec, key)
    if spec.note:
        declared["note"] = spec.note
    return declared


def build_schedules(
    data: Mapping[str, Any], source_map: SourceMap
) -> tuple[tuple[ScheduleSpec, ...], list[Diagnostic]]:
    """The schedules of a schema-valid document, and their problems (file positions)."""
    found: list[ScheduleSpec] = []
    diagnostics: list[Diagnostic] = []
    raw_schedules = data.get("schedules")
    if not isinstance(raw_schedules, Mapping):
        return (), []
    for name, raw in raw_schedules.items():
        if not isinstance(raw, Mapping):
            continue  # the schema reported it
        problems = schedule_problems(raw)
        for path, message in problems:
            full: Path = ("schedules", name, *path)
            diagnostics.append(
                Diagnostic(
                    source_map.position(full), Category.SCHEDULE, f"{subject(full)}: {message}"
                )
            )
        if not problems:
            found.append(read_schedule(name, raw))
    return tuple(found), diagnostics
