"""`segue validate FILE…`: every finding as `file:line:col: severity[category]: message`."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from engine.language.loader import LoadResult, check_workflow_file


def run_validate(files: list[str], *, as_json: bool = False, out: TextIO | None = None) -> int:
    """Validate workflow files and print the findings; 1 if any file has errors, else 0."""
    stream = out if out is not None else sys.stdout
    results = [(file, check_workflow_file(file)) for file in files]
    if as_json:
        report = {
            "files": [
                {
                    "file": file,
                    "valid": not result.errors,
                    "diagnostics": [d.to_json() for d in result.diagnostics],
                }
                for file, result in results
            ]
        }
        stream.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        for file, result in results:
            for diagnostic in result.diagnostics:
                stream.write(diagnostic.format() + "\n")
            stream.write(f"{file}: {_summary(result)}\n")
    return 1 if any(result.errors for _, result in results) else 0


def _summary(result: LoadResult) -> str:
    errors, warnings = len(result.errors), len(result.warnings)
    counted = _plural(warnings, "warning")
    if not errors:
        return f"ok ({counted})" if warnings else "ok"
    return _plural(errors, "error") + (f", {counted}" if warnings else "")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
