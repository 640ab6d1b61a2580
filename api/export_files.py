"""`segue export RUN_ID --dir DIR`: a run's case (GET /runs/{runId}/export) as the files
`segue simulate` reads: the workflow, its mocks, its input, and the whole case."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def case_yaml(case: dict[str, Any]) -> str:
    """The case as one YAML document (the workflow text kept as a block)."""

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    return yaml.dump(case, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def write_case(case: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Write `<workflow>.yaml`, `.mocks.yaml`, `.input.json` and `.case.yaml` into the
    directory (created if missing); returns the paths by role."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = _UNSAFE.sub("_", str(case["source"]["workflow"]))[:100] or "workflow"
    paths = {
        "workflow": directory / f"{stem}.yaml",
        "mocks": directory / f"{stem}.mocks.yaml",
        "input": directory / f"{stem}.input.json",
        "case": directory / f"{stem}.case.yaml",
    }
    paths["workflow"].write_text(case["workflow"], encoding="utf-8")
    paths["mocks"].write_text(case_yaml(case["mocks"]), encoding="utf-8")
    paths["input"].write_text(json.dumps(case["input"], indent=2) + "\n", encoding="utf-8")
    paths["case"].write_text(case_yaml(case), encoding="utf-8")
    return paths
