"""The parsers of the client commands (`run`, `runs`, `trace`, …): kept apart from the
commands themselves so that `segue --help` imports no HTTP client."""

from __future__ import annotations

import argparse
from typing import Any, get_args

from api.cli_render import STATUS_WORDS, UnknownChoice, parse_status
from api.completion import (
    add_completion_command,
    completes,
    files_or_workflows,
    limit_names,
    run_ids,
    words,
    workflow_names,
)
from api.wire import OverlapName

GRAPH_FORMATS = ("text", "dot", "json", "mermaid")  # api.graph_command renders each
MAX_VERSION = 2**31 - 1  # versions are PostgreSQL integers


def _status_option(text: str) -> str:
    try:
        return parse_status(text)
    except UnknownChoice as unknown:
        raise argparse.ArgumentTypeError(str(unknown)) from None


def _version_number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_VERSION:
        raise argparse.ArgumentTypeError(f"{text!r}: a version is a number from 1 to {MAX_VERSION}")
    return number


def add_client_commands(commands: Any) -> None:
    """The client commands on the `segue` parser."""

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--api", help="API URL (default: SEGUE_API_URL, else the running `segue dev`)"
        )
        parser.add_argument("--token", help="bearer token (default: SEGUE_API_TOKEN)")

    run = commands.add_parser(
        "run", help="run a workflow (file or registered name) and print its output"
    )
    completes(run.add_argument("target", metavar="FILE|NAME"), files_or_workflows)
    run.add_argument("--input", metavar="JSON|@FILE")
    run.add_argument("--version", type=int, help="a registered version (default: latest)")
    run.add_argument("--name", help="register the file under this name (default: its stem)")
    run.add_argument(
        "--detach", action="store_true", help="print the run id and return; the run goes on"
    )
    common(run)
    runs = commands.add_parser("runs", help="list runs, newest first")
    completes(runs.add_argument("--workflow"), workflow_names)
    status = runs.add_argument(
        "--status",
        type=_status_option,
        help="only runs with this status: running, paused, succeeded, failed, canceled, … "
        "(any case; the API's COMPLETED, CANCELLED too)",
    )
    completes(status, words(*(word for word in STATUS_WORDS.values() if " " not in word)))
    runs.add_argument("--limit", type=int, default=20)
    common(runs)
    trace = commands.add_parser("trace", help="print a run's trace events, one line each")
    completes(trace.add_argument("run"), run_ids)
    trace.add_argument("--json", action="store_true", help="JSON lines, as the API sends them")
    trace.add_argument(
        "--follow", "-f", action="store_true", help="go on printing until the run ends"
    )
    common(trace)
    logs = commands.add_parser("logs", help="print a run's task log lines")
    logs.add_argument("run")
    logs.add_argument("--task", help="only this task's lines")
    logs.add_argument(
        "--execution", type=int, metavar="N", help="only the lines of this task execution"
    )
    logs.add_argument("--json", action="store_true", help="JSON lines, as the API sends them")
    logs.add_argument(
        "--follow", "-f", action="store_true", help="go on printing until the run ends"
    )
    common(logs)
    for verb, what in (
        ("cancel", "cancel a run"),
        ("pause", "pause a run: start nothing new until resumed"),
        ("resume", "resume a paused run"),
    ):
        command = commands.add_parser(verb, help=what)
        completes(command.add_argument("run"), run_ids)
        common(command)
    rerun = commands.add_parser(
        "rerun", help="run a finished run again (a new run) and follow it as `segue run` does"
    )
    completes(rerun.add_argument("run"), run_ids)
    rerun.add_argument("--detach", action="store_true", help="print the new run (JSON) and return")
    rerun.add_argument(
        "--failed",
        action="store_true",
        help="start where the failed run stopped, not from the top",
    )
    common(rerun)
    signal = commands.add_parser("signal", help="resume a waiting task of a run with a payload")
    completes(signal.add_argument("run"), run_ids)
    signal.add_argument("task")
    signal.add_argument("--payload", metavar="JSON|@FILE")
    signal.add_argument(
        "--item", type=int, metavar="N", help="the item to answer, in a with-items task"
    )
    common(signal)
    workflows = commands.add_parser("workflows", help="list registered workflows")
    common(workflows)
    schedules = commands.add_parser("schedules", help="a workflow's schedules: list, show, …")
    verbs = schedules.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, what in (
        ("list", "the workflow's schedules, with their next run"),
        ("show", "one schedule: as declared, next and recent runs"),
        ("trigger", "start a run of the schedule now"),
        ("backfill", "start the runs the schedule would have started in a past window"),
        ("pause", "no run starts until unpaused"),
        ("unpause", "runs start again"),
    ):
        command = verbs.add_parser(verb, help=what)
        completes(command.add_argument("workflow"), workflow_names)
        if verb != "list":
            command.add_argument("schedule")
        if verb in ("pause", "unpause"):
            command.add_argument("--note", default="", help="why (kept with the schedule)")
        if verb == "backfill":
            command.add_argument("--start", required=True, help="ISO 8601 with a zone")
            command.add_argument("--end", required=True, help="ISO 8601 with a zone")
        if verb in ("trigger", "backfill"):
            command.add_argument(
                "--overlap", choices=get_args(OverlapName), help="instead of the schedule's own"
            )
        common(command)
    webhooks = commands.add_parser("webhooks", help="a workflow's signed webhooks")
    verbs = webhooks.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, what in (
        ("list", "the workflow's webhooks (without secrets)"),
        ("create", "create a webhook; prints its URL and its secret, once"),
        ("delete", "remove a webhook"),
    ):
        command = verbs.add_parser(verb, help=what)
        completes(command.add_argument("workflow"), workflow_names)
        if verb != "list":
            command.add_argument("hook", metavar="NAME")
        if verb == "create":
            command.add_argument("--input", help="JSONata mapping the payload to the input")
        common(command)
    rules = commands.add_parser("rules", help="event rules that start runs from events")
    verbs = rules.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, what in (
        ("list", "every event rule"),
        ("show", "one rule"),
        ("put", "create or replace a rule"),
        ("delete", "remove a rule"),
    ):
        command = verbs.add_parser(verb, help=what)
        if verb != "list":
            command.add_argument("name")
        if verb == "put":
            command.add_argument("--event", required=True, help="the event name it takes")
            completes(command.add_argument("--workflow", required=True), workflow_names)
            command.add_argument("--criteria", help="JSONata over {event, key, payload}")
            command.add_argument("--input", help="JSONata mapping the event to the input")
        common(command)
    limits = commands.add_parser(
        "limits", help="concurrency limits in use: holders and waiters per key"
    )
    completes(limits.add_argument("name", nargs="?", help="only this limit"), limit_names)
    common(limits)
    register = commands.add_parser("register", help="register a workflow file (a new version)")
    register.add_argument("file", metavar="FILE")
    register.add_argument("--name", help="the workflow's name (default: the file's stem)")
    common(register)
    graph = commands.add_parser(
        "graph",
        help="print a workflow's task graph (a file, or a registered workflow by name)",
    )
    completes(graph.add_argument("target", metavar="FILE|WORKFLOW"), files_or_workflows)
    graph.add_argument(
        "--format",
        type=str.lower,
        choices=GRAPH_FORMATS,
        default="text",
        help="text (for a terminal, the default), dot (Graphviz), json (as the API's "
        "GET /workflows/{name}/graph), mermaid",
    )
    graph.add_argument(
        "--version", type=_version_number, help="a registered version (default: latest)"
    )
    common(graph)
    export = commands.add_parser(
        "export", help="a run as a `segue simulate` case (workflow, input, mocks, expectations)"
    )
    completes(export.add_argument("run"), run_ids)
    export.add_argument(
        "--dir", metavar="DIR", help="write the files `segue simulate` reads into DIR"
    )
    common(export)
    events = commands.add_parser("events", help="deliver events to runs waiting for them")
    actions = events.add_subparsers(dest="events_action", required=True, metavar="ACTION")
    send = actions.add_parser("send", help="deliver an event (by name and correlation key)")
    send.add_argument("event", metavar="NAME")
    send.add_argument("--key", help="the correlation key (default: derived by the API)")
    send.add_argument("--payload", metavar="JSON|@FILE")
    common(send)
    add_completion_command(commands)
