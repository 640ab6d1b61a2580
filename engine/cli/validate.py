"""`segue validate FILE…`: every finding as `file:line:col: severity[category]: message`.

It makes the checks `POST /workflows` makes: the language's, the actions installed here
(the catalog a worker loads), and child workflows looked up as files. What only a server
knows is said in `note` lines, never skipped in silence."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from engine.language.deployment import ActionNames, ChildWorkflows, Deployment
from engine.language.loader import LoadResult, check_workflow_file

EXIT_USAGE = 2
WORKFLOW_SUFFIXES = (".yaml", ".yml")
MOCKS_SUFFIXES = (".mocks.yaml", ".mocks.yml")
MOCKS_SKIPPED = "a mocks file (for `segue simulate --mocks`), not a workflow"


def _is_mocks_file(file: str) -> bool:
    """`NAME.mocks.yaml` beside `NAME.yaml` is the examples' convention for mocks, so that
    `segue validate examples/*.yaml` checks the workflows alone."""
    return file.endswith(MOCKS_SUFFIXES)


CHILD_MISSING = "is not a workflow file beside this one or in --workflows"
CHILD_NOTE = (
    "child workflows were looked up as files (beside the file and in --workflows); "
    "which ones are registered is known only to a server (POST /workflows/validate)"
)


def run_validate(
    files: list[str],
    *,
    as_json: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
    workflow_dirs: Iterable[str] = (),
    actions: ActionNames | None = None,
) -> int:
    """Validate workflow files and print the findings; 1 if any file has errors, 2 for a
    bad argument, else 0."""
    stream = out if out is not None else sys.stdout
    errors = err if err is not None else sys.stderr
    for directory in workflow_dirs:
        if not os.path.isdir(directory):
            errors.write(f"segue validate: --workflows {directory}: not a directory\n")
            return EXIT_USAGE
    if actions is None:
        actions = _installed_actions(errors)
    skipped = [file for file in files if _is_mocks_file(file)]
    files = [file for file in files if file not in skipped]
    known = _workflow_names(files, workflow_dirs)
    results = [
        (file, check_workflow_file(file, deployment=_deployment(file, actions, known)))
        for file in files
    ]
    if as_json:
        report = {
            "files": [
                {
                    "file": file,
                    "valid": not result.errors,
                    "diagnostics": [d.to_json() for d in result.diagnostics],
                    "notes": list(result.notes),
                }
                for file, result in results
            ],
            "skipped": [{"file": file, "reason": MOCKS_SKIPPED} for file in skipped],
        }
        stream.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        for file, result in results:
            for diagnostic in result.diagnostics:
                stream.write(diagnostic.format() + "\n")
            for note in result.notes:
                stream.write(f"{file}: note: {note}\n")
            stream.write(f"{file}: {_summary(result)}\n")
        for file in skipped:
            stream.write(f"{file}: skipped: {MOCKS_SKIPPED}\n")
    return 1 if any(result.errors for _, result in results) else 0


def _installed_actions(err: TextIO) -> ActionNames:
    """The names a worker would know here: built-ins and `segue.actions` plugins (the
    catalog is loaded only when there are plugins: engine/action_names.py)."""
    from engine.action_names import installed_action_names

    names, problems = installed_action_names()
    for problem in problems:  # a plugin that failed to load: its actions are missing
        err.write(f"segue validate: note: {problem}\n")
    return names


def _workflow_names(files: Iterable[str], directories: Iterable[str]) -> frozenset[str]:
    """Workflow names given as files: the files to check and those in `directories`."""
    names = {Path(file).stem for file in files}
    for directory in directories:
        names |= _names_in(directory)
    return frozenset(names)


def _names_in(directory: str | os.PathLike[str]) -> set[str]:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return set()
    return {
        Path(entry.name).stem
        for entry in entries
        if entry.name.endswith(WORKFLOW_SUFFIXES) and entry.is_file()
    }


def _deployment(file: str, actions: ActionNames, known: frozenset[str]) -> Deployment:
    beside = _names_in(Path(file).parent)
    return Deployment(actions, ChildWorkflows(known | beside, CHILD_MISSING, CHILD_NOTE))


def _summary(result: LoadResult) -> str:
    errors, warnings = len(result.errors), len(result.warnings)
    counted = _plural(warnings, "warning")
    if not errors:
        return f"ok ({counted})" if warnings else "ok"
    return _plural(errors, "error") + (f", {counted}" if warnings else "")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
