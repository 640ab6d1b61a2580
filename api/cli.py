"""The `segue` command: the engine's commands (validate, simulate, worker) plus the
service's (api, dev) and the operator commands that talk to a running API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from engine.cli.main import build_parser, exit_after_temporal, run_engine_command, uses_temporal


def full_parser() -> argparse.ArgumentParser:
    parser, commands = build_parser()
    from api.client_parser import add_client_commands
    from api.serve import add_api_arguments

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
    args = full_parser().parse_args(argv)
    code = _run(args)
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
    from api.client_commands import operator_main

    return operator_main(args)


if __name__ == "__main__":
    sys.exit(main())
