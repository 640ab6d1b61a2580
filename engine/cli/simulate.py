"""`segue simulate FILE [--input JSON|@file] [--mocks FILE] [--json]`."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import msgspec
import yaml

from engine.coordinator.transition_notices import describe
from engine.language.loader import check_workflow_file
from engine.language.spec import WorkflowSpec
from engine.masking import Masker, secret_values
from engine.secret_source import SecretUnavailable, resolve_secrets
from engine.simulator.mocks import (
    MockEntry,
    MockError,
    parse_mocks,
    unknown_mock_tasks,
    unmocked_tasks,
)
from engine.simulator.waves import Simulation, simulate

EXIT_SUCCEEDED = 0
EXIT_RUN_NOT_SUCCEEDED = 1
EXIT_BAD_INPUT = 2


class UsageProblem(Exception):
    """A file or argument the user gave cannot be used."""


def read_document(argument: str, what: str) -> Any:
    """Inline JSON, or `@path` to a JSON or YAML file."""
    if argument.startswith("@"):
        path = Path(argument[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UsageProblem(f"cannot read {what} file {path}: {error}") from None
        return _parse(text, f"{what} file {path}")
    return _parse(argument, what)


def _parse(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsageProblem(f"{where} is neither JSON nor YAML: {error}") from None


def run_simulate(
    file: str,
    *,
    input_argument: str | None,
    mocks_file: str | None,
    as_json: bool,
    on_temporal: bool = False,
    strict_mocks: bool = False,
    transitions: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Simulate one workflow; the exit status reflects the run's status. Mocks that name no
    task are warned about; with `strict_mocks`, a task that could run an action or a child
    workflow without a mock entry stops the simulation before it starts. With
    `transitions`, every evaluated transition is listed too (the `TRANSITION` events)."""
    out = out or sys.stdout
    err = err or sys.stderr
    loaded = check_workflow_file(file)
    if loaded.spec is None:
        for diagnostic in loaded.diagnostics:
            print(diagnostic.format(), file=err)
        return EXIT_BAD_INPUT
    try:
        run_input = read_document(input_argument, "input") if input_argument else {}
        if run_input is None:
            run_input = {}
        if not isinstance(run_input, dict):
            raise UsageProblem("the input must be a JSON object")
        raw_mocks = read_document(f"@{mocks_file}", "mocks") if mocks_file else []
        mocks = parse_mocks(raw_mocks)
    except (UsageProblem, MockError) as problem:
        print(f"segue simulate: {problem}", file=err)
        return EXIT_BAD_INPUT
    warnings = unknown_mock_tasks(mocks, loaded.spec)
    for warning in warnings:
        print(f"segue simulate: warning: {warning}", file=err)
    unmocked = unmocked_tasks(mocks, loaded.spec) if strict_mocks else []
    if unmocked:
        print(
            f"segue simulate: --strict-mocks: no mock entry for "
            f"{', '.join(repr(name) for name in unmocked)}; every task that can run an action "
            "or a child workflow needs one",
            file=err,
        )
        return EXIT_BAD_INPUT
    try:
        secrets = resolve_secrets(loaded.spec.secrets)
    except SecretUnavailable as problem:
        print(f"segue simulate: {problem}", file=err)
        return EXIT_BAD_INPUT
    # What is printed shows no secret: written whole, then masked as text (the masker
    # knows secrets' JSON-escaped spellings too).
    masker = Masker(
        [
            *secrets.values(),
            *(
                text
                for name in loaded.spec.secret_inputs
                for text in secret_values(run_input.get(name))
            ),
        ]
    )
    shown = io.StringIO()
    status = _simulate(
        masker,
        file,
        loaded.spec,
        run_input,
        raw_mocks,
        mocks,
        warnings,
        secrets,
        on_temporal,
        as_json,
        transitions,
        shown,
    )
    out.write(masker.text(shown.getvalue()))
    out.flush()
    return status


def _simulate(
    masker: Masker,
    file: str,
    spec: WorkflowSpec,
    run_input: dict[str, Any],
    raw_mocks: Any,
    mocks: list[MockEntry],
    warnings: list[str],
    secrets: dict[str, str],
    on_temporal: bool,
    as_json: bool,
    transitions: bool,
    out: TextIO,
) -> int:
    if on_temporal:
        outcome = _on_temporal(file, spec, run_input, raw_mocks or [])
        if warnings:  # the mocks file's, before the harness's (a hold that waited in vain)
            outcome["warnings"] = [*warnings, *outcome.get("warnings", [])]
        json.dump(masker.value(outcome), out, ensure_ascii=False)
        out.write("\n")
        return EXIT_SUCCEEDED if outcome["status"] == "succeeded" else EXIT_RUN_NOT_SUCCEEDED
    result = simulate(spec, run_input, mocks, secrets=secrets)
    if as_json:
        report = result.to_json()
        if warnings:  # only when there are some, like `errors_dropped`
            report["warnings"] = warnings
        if transitions:
            # Names only, as documented for this listing (the trace adds the values).
            report["transitions"] = [
                msgspec.to_builtins(msgspec.structs.replace(n, values=None))
                for n in result.transitions
            ]
        json.dump(masker.value(report), out, ensure_ascii=False)
        out.write("\n")
    else:
        print_table(replace(result, output=masker.value(result.output)), out)
        if transitions:
            out.write("transitions:\n")
            for notice in result.transitions:
                ref = notice.execution
                out.write(f"  {describe(notice)}  [iteration {ref.iteration}, route {ref.route}]\n")
    return EXIT_SUCCEEDED if result.status == "succeeded" else EXIT_RUN_NOT_SUCCEEDED


def _on_temporal(
    file: str, spec: WorkflowSpec, run_input: dict[str, Any], mocks: Any
) -> dict[str, Any]:
    import asyncio

    from engine.temporal.simulation import simulate_on_temporal, simulation_worker

    text = Path(file).read_text(encoding="utf-8")

    async def run() -> dict[str, Any]:
        async with simulation_worker() as harness:
            return await simulate_on_temporal(harness, spec, text, run_input, mocks)

    return asyncio.run(run())


def print_table(result: Simulation, out: TextIO) -> None:
    """A readable table of task executions, then the outcome."""
    rows = [("#", "task", "iteration", "route", "attempts", "status")]
    for number, entry in enumerate(result.sequence, start=1):
        rows.append(
            (
                str(number),
                entry.task,
                str(entry.iteration),
                str(entry.route),
                str(entry.attempts),
                entry.status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        out.write("\n")
    out.write(f"\nstatus: {result.status}\n")
    out.write(f"output: {json.dumps(result.output, ensure_ascii=False)}\n")
    if result.errors:
        out.write("errors:\n")
        for error in result.errors:
            handled = " (handled)" if error.handled else ""
            out.write(f"  - [{error.type}]{handled} {error.message}\n")
    if result.errors_dropped:
        out.write(f"  … and {result.errors_dropped} more errors\n")
