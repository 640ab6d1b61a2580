"""docs/language.md's table of error entry types is the `ErrorType` enum, and an entry
carries its type as the plain word."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from engine.coordinator.commands import ErrorEntry
from engine.coordinator.error_types import ErrorType

DOCS = Path(__file__).resolve().parents[2] / "docs" / "language.md"
ROW = re.compile(r"^\| `(?P<type>[a-z_]+)` \| (?P<cause>[^|]+) \|$")


def test_the_documented_types_are_the_enum() -> None:
    section = DOCS.read_text().split("| type | cause |", 1)[1].split("\n\n", 1)[0]
    documented = [m["type"] for m in map(ROW.match, section.splitlines()) if m]
    assert sorted(documented) == sorted(member.value for member in ErrorType)


def test_an_entry_serialises_its_type_as_the_plain_word() -> None:
    """Snapshots and traces carry the value, as before the enum existed."""
    entry = ErrorEntry(type=ErrorType.ITERATION_CAP, message="m")
    assert msgspec.json.encode(entry) == b'{"type":"iteration_cap","message":"m"}'
    assert msgspec.json.decode(msgspec.json.encode(entry), type=ErrorEntry) == entry
