"""The parsers of the client commands (`run`, `runs`, `trace`, …): kept apart from the
commands themselves so that `segue --help` imports no HTTP client."""

from __future__ import annotations

import argparse
from typing import Any

from api.cli_render import UnknownChoice, parse_status


def _status_option(text: str) -> str:
    try:
        return parse_status(text)
    except UnknownChoice as unknown:
        raise argparse.ArgumentTypeError(str(unknown)) from None


def add_client_commands(commands: Any) -> None:
    """`run`, `runs`, `trace`, `cancel`, `rerun`, `signal` on the `segue` parser."""

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--api", help="API URL (default: SEGUE_API_URL, else the running `segue dev`)"
        )
        parser.add_argument("--token", help="bearer token (default: SEGUE_API_TOKEN)")

    run = commands.add_parser(
        "run", help="run a workflow (file or registered name) and print its output"
    )
    run.add_argument("target", metavar="FILE|NAME")
    run.add_argument("--input", metavar="JSON|@FILE")
    run.add_argument("--version", type=int, help="a registered version (default: latest)")
    common(run)
    runs = commands.add_parser("runs", help="list runs, newest first")
    runs.add_argument("--workflow")
    runs.add_argument(
        "--status",
        type=_status_option,
        help="only runs with this status: running, paused, succeeded, failed, canceled, … "
        "(any case; the API's COMPLETED, CANCELLED too)",
    )
    runs.add_argument("--limit", type=int, default=20)
    common(runs)
    trace = commands.add_parser("trace", help="print a run's trace events (JSON lines)")
    trace.add_argument("run")
    common(trace)
    cancel = commands.add_parser("cancel", help="cancel a run")
    cancel.add_argument("run")
    common(cancel)
    rerun = commands.add_parser("rerun", help="run a finished run again (a new run)")
    rerun.add_argument("run")
    rerun.add_argument(
        "--failed",
        action="store_true",
        help="start where the failed run stopped, not from the top",
    )
    common(rerun)
    signal = commands.add_parser("signal", help="resume a waiting task of a run with a payload")
    signal.add_argument("run")
    signal.add_argument("task")
    signal.add_argument("--payload", metavar="JSON|@FILE")
    signal.add_argument(
        "--item", type=int, metavar="N", help="the item to answer, in a with-items task"
    )
    common(signal)
