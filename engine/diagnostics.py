"""Positions in workflow files and the diagnostics that point at them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a source file; line and column are 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Category(StrEnum):
    """Stable categories of validation findings (shown in brackets by `segue validate`)."""

    FILE = "file"  # unreadable, too large, not UTF-8
    YAML = "yaml"  # not well-formed YAML, forbidden tags, duplicate keys, too deep
    SCHEMA = "schema"  # shape of the document (unknown keys, wrong types)
    NAME = "name"  # invalid or reserved task names
    REFERENCE = "reference"  # `do` targets and `start` entries that name no task
    GRAPH = "graph"  # entry tasks, joins, reachability
    EXPRESSION = "expression"  # JSONata that does not compile
    CONTEXT = "context"  # `$ctx.name` read where no path assigns it
    SCHEDULE = "schedule"  # a schedule's times, zone or bounds that cannot work
    LIMIT = "limit"  # a concurrency limit's key that does not compile


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One validation finding."""

    position: Position | None
    category: Category
    message: str
    severity: Severity = Severity.ERROR

    def format(self) -> str:
        where = str(self.position) if self.position else "<input>"
        return f"{where}: {self.severity}[{self.category}]: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.position.file if self.position else None,
            "line": self.position.line if self.position else None,
            "column": self.position.column if self.position else None,
            "severity": str(self.severity),
            "category": str(self.category),
            "message": self.message,
        }


class WorkflowInvalid(Exception):
    """Raised when a workflow has validation errors; carries all of them."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        super().__init__("\n".join(d.format() for d in errors) or "invalid workflow")
