"""What the client commands print: problem JSON as readable lines, and one status
vocabulary.

Statuses: the workflow language, `segue simulate` and the docs say `succeeded`, `failed`,
`canceled` (and `running`, `paused`); the API's wire values (`COMPLETED`, `FAILED`,
`CANCELLED`, `RUNNING`, `PAUSED`) stay as they are for API clients, and the CLI shows
them in the language's words. Options that take a status accept either word, in any case.
"""

from __future__ import annotations

from typing import Any

# API wire value -> the word the CLI shows.
STATUS_WORDS: dict[str, str] = {
    "QUEUED": "queued",
    "RUNNING": "running",
    "PAUSED": "paused",
    "COMPLETED": "succeeded",
    "FAILED": "failed",
    "CANCELLED": "canceled",
    "TERMINATED": "terminated",
    "TIMED_OUT": "timed out",
}
# Every word a user may type for a status filter -> the API's wire value.
_STATUS_INPUT: dict[str, str] = {
    **{word.replace(" ", "_"): wire for wire, word in STATUS_WORDS.items()},
    **{wire.lower(): wire for wire in STATUS_WORDS},
    "cancelled": "CANCELLED",
    "completed": "COMPLETED",
}


class UnknownChoice(ValueError):
    """A value outside an option's allowed set; the message lists the allowed values."""


def status_word(wire: str) -> str:
    """The CLI's word for an API status."""
    return STATUS_WORDS.get(wire, wire.lower())


def parse_status(text: str) -> str:
    """The API's status for a word typed in any case (old words included)."""
    wire = _STATUS_INPUT.get(text.strip().lower().replace(" ", "_").replace("-", "_"))
    if wire is None:
        allowed = ", ".join(word for word in STATUS_WORDS.values() if " " not in word)
        raise UnknownChoice(f"unknown status {text!r}; allowed: {allowed}")
    return wire


def problem_lines(status_code: int, problem: dict[str, Any]) -> list[str]:
    """A problem JSON answer as lines a person reads: the detail, then each error."""
    code = problem.get("code") or f"HTTP {status_code}"
    detail = problem.get("detail") or problem.get("title") or "error"
    lines = [f"{detail} [{code}]"]
    for error in problem.get("errors") or []:
        lines.append(f"  {error_line(error)}")
    for key, label in (
        ("waiting", "waiting tasks"),
        ("waitingItems", "waiting items"),
        ("warnings", "warnings"),
    ):
        if key in problem:
            lines.append(f"  {label}: {_listing(problem[key])}")
    return lines


def error_line(error: Any) -> str:
    """One error entry (a diagnostic, an input-schema error, an engine error) as a line."""
    if not isinstance(error, dict):
        return str(error)
    place = ":".join(str(error[k]) for k in ("file", "line", "column") if error.get(k) is not None)
    place = place or error.get("path") or error.get("task") or error.get("taskId") or ""
    what = error.get("message") or error.get("reason") or error.get("detail") or ""
    kind = error.get("category") or error.get("type") or error.get("code") or ""
    parts = [str(part) for part in (place, kind) if part]
    prefix = f"{': '.join(parts)}: " if parts else ""
    return f"{prefix}{what}" if what else prefix.rstrip(": ") or str(error)


def _listing(value: Any) -> str:
    if isinstance(value, list):
        if not value:
            return "none"
        return ", ".join(
            error_line(item) if isinstance(item, dict) else str(item) for item in value
        )
    return str(value)
