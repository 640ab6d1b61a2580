"""The engine's commands of `segue`: validate, simulate, worker.

The full `segue` command (`api.cli`) adds the service's commands on top of these; this
module stays importable without the API package (imports flow api -> engine).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any


class _Version(argparse.Action):
    """`--version`: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("segue")
        except PackageNotFoundError:
            found = "unknown (not installed)"
        print(f"segue {found}")
        parser.exit()


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, Any]:
    """The parser with the engine's subcommands, and its subparsers (to add more).
    `only`: the command the command line names, the one subparser built (start-up:
    each subparser costs a fraction of a millisecond, `worker`'s an import too)."""
    parser = argparse.ArgumentParser(
        prog="segue", description="Run YAML workflows with Orquesta-style transitions on Temporal."
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    if only in (None, "validate"):
        _add_validate(commands)
    if only in (None, "simulate"):
        _add_simulate(commands)
    if only in (None, "worker"):
        from engine.temporal.worker_config import add_worker_arguments

        add_worker_arguments(
            commands.add_parser("worker", help="run a Temporal worker for Segue workflows")
        )
    return parser, commands


def _add_validate(commands: Any) -> None:
    validate = commands.add_parser("validate", help="check workflow files; every error at once")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="print the findings as JSON")
    validate.add_argument(
        "--workflows",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory of workflow files that `workflow:` tasks may name (repeatable; "
        "the files' own directories are always looked in)",
    )


def _add_simulate(commands: Any) -> None:
    simulate = commands.add_parser(
        "simulate", help="run a workflow through the coordinator locally, with mocked actions"
    )
    simulate.add_argument("file", metavar="FILE")
    simulate.add_argument("--input", metavar="JSON|@FILE", help="the run input")
    simulate.add_argument("--mocks", metavar="FILE", help="YAML or JSON list of mocked results")
    simulate.add_argument("--json", action="store_true", help="print the outcome as JSON")
    simulate.add_argument(
        "--strict-mocks",
        action="store_true",
        help="fail (exit 2) when a task that can run an action or a child workflow has no "
        "mock entry",
    )
    simulate.add_argument(
        "--transitions",
        action="store_true",
        help="also list every evaluated transition: taken or not, its when, where it led",
    )
    simulate.add_argument(
        "--temporal",
        action="store_true",
        help="run on a real Temporal server (started for the command, or SEGUE_TEMPORAL_ADDRESS)",
    )


def run_engine_command(args: argparse.Namespace) -> int | None:
    """Run an engine command; None when the command is not one of the engine's."""
    if args.command == "validate":
        from engine.cli.validate import run_validate

        return run_validate(args.files, as_json=args.json, workflow_dirs=args.workflows)
    if args.command == "simulate":
        from engine.cli.simulate import run_simulate

        return run_simulate(
            args.file,
            input_argument=args.input,
            mocks_file=args.mocks,
            as_json=args.json,
            on_temporal=args.temporal,
            strict_mocks=args.strict_mocks,
            transitions=args.transitions,
        )
    if args.command == "worker":
        from engine.temporal.worker import worker_main

        return worker_main(args)
    return None


def uses_temporal(args: argparse.Namespace) -> bool:
    """Whether the command ran a Temporal client or worker in this process."""
    return args.command in {"worker", "dev", "run", "api"} or bool(getattr(args, "temporal", False))


def exit_after_temporal(code: int) -> None:
    """End the process at once: the Temporal SDK's runtime can abort the interpreter at
    normal exit (sdk-python issue 300; FACTS.md), so flush and leave with os._exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser()[0].parse_args(argv)
    handled = run_engine_command(args)
    code = 2 if handled is None else handled
    if uses_temporal(args) and argv is None:
        exit_after_temporal(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
