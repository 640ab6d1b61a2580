"""The `segue` command: the engine's commands (validate, simulate, worker) plus the
service's (api, dev) and the operator commands that talk to a running API."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC

from engine.cli.main import build_parser, exit_after_temporal, run_engine_command, uses_temporal

# The engine's own commands: a command line that starts with one needs no other parser.
ENGINE_COMMANDS = frozenset({"validate", "simulate", "worker"})


def full_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole `segue` parser; only the engine's when `command` is one of its commands
    (building the service's ~17 subparsers cost `segue validate` ~5 ms of start-up)."""
    if command in ENGINE_COMMANDS:
        return build_parser(command)[0]
    parser, commands = build_parser()
    from api.client_parser import add_client_commands
    from api.serve_options import add_api_arguments

    add_api_arguments(commands.add_parser("api", help="serve the HTTP API (needs SEGUE_API_TOKEN)"))
    from api.dev_options import add_dev_arguments

    add_dev_arguments(
        commands.add_parser(
            "dev",
            help="the embedded default: Temporal dev server, PostgreSQL, API and worker on "
            "loopback",
        )
    )
    add_client_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    completing = argv is None and "_ARGCOMPLETE" in os.environ
    parser = full_parser(None if completing or not words else words[0])
    if completing:  # the shell asking for completions (`segue completion`): answer, exit
        from api.completion import complete_if_asked

        complete_if_asked(parser)
    args = parser.parse_args(argv)
    try:
        code = _run(args)
    except KeyboardInterrupt:
        code = 130  # what was interrupted has said what it left behind, if anything
    except Exception as error:  # the last resort: expected failures are handled below
        code = _unexpected(args.command, error)
    if uses_temporal(args) and argv is None:
        exit_after_temporal(code)  # a command-line process, not a caller in tests
    return code


def _run(args: argparse.Namespace) -> int:
    handled = run_engine_command(args)
    if handled is not None:
        return handled
    if args.command == "api":
        from api.serve import api_main

        return api_main(args)
    if args.command == "dev":
        from api.devstack import DevSettings, dev_main

        return dev_main(DevSettings.from_args(args))
    if args.command == "run":
        from api.client_cli import run_main

        return run_main(args)
    if args.command == "completion":
        from api.completion import completion_main

        return completion_main(args.shell)
    if args.command == "graph":
        from api.graph_command import graph_main

        return graph_main(args)
    from api.client_commands import operator_main

    return operator_main(args)


def _unexpected(command: str, error: Exception) -> int:
    """One line on the terminal, the traceback in a log file it names."""
    import traceback
    from datetime import datetime

    from api.stackstate import user_state_dir

    log = user_state_dir().parent / "cli.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as out:
            out.write(f"--- {datetime.now(UTC).isoformat()} segue {command}\n")
            out.write(traceback.format_exc())
        where = f" (details: {log})"
    except OSError:
        where = ""
    print(f"segue {command}: unexpected error: {error}{where}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
