"""docs/actions.md lists every built-in action with the placement its definition declares."""

from __future__ import annotations

import re
from pathlib import Path

from engine.actions import ActionCatalog

DOCS = Path(__file__).resolve().parents[2] / "docs" / "actions.md"
ROW = re.compile(r"^\| `(?P<name>[a-z_.]+)` \| [^|]+ \| (?P<where>[a-z_]+)[^|]* \|")


def test_the_built_in_table_says_where_each_action_runs() -> None:
    section = DOCS.read_text().split("## Built-in actions", 1)[1].split("\n### ", 1)[0]
    documented = {m["name"]: m["where"] for m in map(ROW.match, section.splitlines()) if m}
    catalog = ActionCatalog.builtin()
    declared = {d.name: d.placement.value for d in catalog}
    assert documented == declared
