"""The operator commands that talk to a running API, apart from `segue run`: `runs`,
`trace`, `logs`, `cancel`, `pause`, `resume`, `rerun`, `signal`, `workflows`, `limits`,
`schedules`, `register`, `events send`, `export`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from api.cli_render import error_line, status_word
from api.client_cli import (
    Api,
    ApiProblem,
    follow_logs,
    follow_run,
    print_outcome,
    register_file,
    settled_status,
)
from api.found_api import find_api
from engine.cli.simulate import UsageProblem, read_document

Command = Callable[[Api, argparse.Namespace], int]


def operator_main(args: argparse.Namespace) -> int:
    """Run one operator command against the API `find_api` finds."""
    found = find_api(args.api)
    if found is None:
        print(
            f"segue {args.command}: no API found (set SEGUE_API_URL or start `segue dev`)",
            file=sys.stderr,
        )
        return 2
    api = Api(found.url, args.token or os.environ.get("SEGUE_API_TOKEN"))
    command = COMMANDS[args.command]
    try:
        return command(api, args)
    except (ApiProblem, UsageProblem) as problem:
        print(f"segue {args.command}: {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130  # only followed something: nothing to undo, nothing to say


def _runs(api: Api, args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("workflow", args.workflow), ("status", args.status)) if v}
    page = api.call("GET", "/runs", params={**params, "limit": args.limit})
    for run in page["runs"]:
        started = run.get("startedAt") or ""
        word = status_word(run["status"])
        print(f"{run['runId']}  {run['workflowId']:<20} {word:<10} {started}")
    return 0


def trace_line(event: dict[str, Any]) -> str:
    """A trace event as one readable line: time, task and iteration, what happened."""
    data = event.get("data") or {}
    when = str(event.get("timestamp", ""))[11:23]
    node = event.get("nodeId")
    where = f"{node} #{data.get('iteration', '?')}" if node else "run"
    kind = str(event["type"]).removeprefix("WORKFLOW_").lower()
    detail = event.get("message") or ""
    if event.get("error"):
        detail = error_line(event["error"])
    elif event.get("outputSummary") and kind == "completed":
        detail = f"→ {event['outputSummary']}"
    return f"{when}  {where:<24} {kind:<10} {detail}".rstrip()


def _trace(api: Api, args: argparse.Namespace) -> int:
    show = (lambda e: json.dumps(e, ensure_ascii=False)) if args.json else trace_line
    if args.follow:
        follow_run(api, args.run, show=show, to=sys.stdout)
        return 0
    for event in _paged(api, f"/runs/{args.run}/trace", "events", {}):
        print(show(event))
    return 0


def log_line(line: dict[str, Any]) -> str:
    """A task log line as one readable line: time, task and execution, level, message."""
    when = str(line.get("timestamp", ""))[11:23]
    where = f"{line.get('task')} #{line.get('execution')}"
    if line.get("item") is not None:
        where += f"[{line['item']}]"
    stream = (line.get("data") or {}).get("stream")
    level = line.get("level", "")
    tag = f"{level}/{stream}" if isinstance(stream, str) else level
    return f"{when}  {where:<20} {tag:<12} {line.get('message', '')}"


def _logs(api: Api, args: argparse.Namespace) -> int:
    show = (lambda line: json.dumps(line, ensure_ascii=False)) if args.json else log_line
    params: dict[str, Any] = {}
    if args.task:
        params["task"] = args.task
    if args.execution is not None:
        params["execution"] = args.execution
    if args.follow:
        follow_logs(api, args.run, params, show)
        return 0
    for line in _paged(api, f"/runs/{args.run}/logs", "logs", params):
        print(show(line))
    return 0


def _paged(api: Api, path: str, key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every entry (`key` of each page) of a listing paged by cursor, first to last."""
    cursor = None
    while True:
        page = api.call("GET", path, params={**params, **({"cursor": cursor} if cursor else {})})
        yield from page[key]
        cursor = page.get("cursor")
        if not page[key] or not cursor:
            return


def _run_action(action: str) -> Command:
    def command(api: Api, args: argparse.Namespace) -> int:
        answer = api.call("POST", f"/runs/{args.run}/{action}")
        print(f"run {args.run}: {status_word(answer.get('status', ''))}")
        return 0

    return command


def _rerun(api: Api, args: argparse.Namespace) -> int:
    body = {"from": "failed" if args.failed else "start"}
    answer = api.call("POST", f"/runs/{args.run}/rerun", json=body)
    if args.detach:
        print(json.dumps(answer))
        return 0
    new_run = answer["runId"]
    print(f"run {new_run} (a rerun of {args.run})", file=sys.stderr, flush=True)
    follow_run(api, new_run)
    final = settled_status(api, new_run)
    print(json.dumps(final.get("output"), ensure_ascii=False), flush=True)
    print_outcome(final)
    return 0 if final["status"] == "COMPLETED" else 1


def _signal(api: Api, args: argparse.Namespace) -> int:
    payload = read_document(args.payload, "payload") if args.payload else None
    body: dict[str, Any] = {"payload": payload}
    if args.item is not None:
        body["item"] = args.item
    print(json.dumps(api.call("POST", f"/runs/{args.run}/signals/{args.task}", json=body)))
    return 0


def _workflows(api: Api, args: argparse.Namespace) -> int:
    for workflow in api.call("GET", "/workflows")["workflows"]:
        version = f"v{workflow['latestVersion']}"
        print(f"{workflow['name']:<28} {version:<5} {workflow.get('createdAt', '')}")
    return 0


def _limits(api: Api, args: argparse.Namespace) -> int:
    """One line per limit in use, then one per key: holding, waiting, the oldest wait."""
    params = {"name": args.name} if args.name else {}
    answer = api.call("GET", "/limits", params=params)
    if not answer["limits"]:
        print("no concurrency limit is in use" + (f" named {args.name}" if args.name else ""))
    for limit in answer["limits"]:
        print(f"{limit['name']:<28} {limit['holders']:>5} holding {limit['waiters']:>5} waiting")
        for key in limit["keys"]:
            since = f"  oldest wait since {key['oldestWait']}" if key.get("oldestWait") else ""
            line = f"  {key['key']:<26} {key['holders']:>5} holding {key['waiters']:>5} waiting"
            print(line + since)
    if answer.get("truncated"):
        print("(more keys are in use than listed: name one limit)")
    return 0


def _schedule_line(schedule: dict[str, Any]) -> str:
    state = "paused" if schedule["paused"] else "active"
    if not schedule["inTemporal"]:
        state = "not in Temporal"
    upcoming = schedule.get("nextRuns") or ["-"]
    return f"{schedule['name']:<24} {state:<15} next {upcoming[0]}"


def _schedules(api: Api, args: argparse.Namespace) -> int:
    """`segue schedules list|show|trigger|backfill|pause|unpause WORKFLOW [SCHEDULE]`."""
    base = f"/workflows/{quote(args.workflow, safe='')}/schedules"
    if args.verb == "list":
        for schedule in api.call("GET", base)["schedules"]:
            print(_schedule_line(schedule))
        return 0
    path = f"{base}/{quote(args.schedule, safe='')}"
    if args.verb == "show":
        schedule = api.call("GET", path)
    elif args.verb in ("trigger", "backfill"):
        body: dict[str, Any] = {"overlap": args.overlap} if args.overlap else {}
        if args.verb == "backfill":
            body.update(start=args.start, end=args.end)
        schedule = api.call("POST", f"{path}/{args.verb}", json=body)
    else:
        schedule = api.call("POST", f"{path}/{args.verb}", json={"note": args.note})
    print(_schedule_line(schedule))
    if args.verb == "show":
        for run in schedule.get("recentRuns") or []:
            print(f"  ran {run.get('scheduledAt', '')} {run.get('runId', '')}")
        if schedule.get("problem"):
            print(f"  problem: {schedule['problem']}")
    return 0


def _webhooks(api: Api, args: argparse.Namespace) -> int:
    """`segue webhooks list|create|delete WORKFLOW [NAME]`."""
    base = f"/workflows/{quote(args.workflow, safe='')}/webhooks"
    if args.verb == "list":
        for hook in api.call("GET", base)["webhooks"]:
            print(f"{hook['name']:<24} {hook['id']:<24} {hook['url']}")
    elif args.verb == "create":
        body = {"name": args.hook, **({"input": args.input} if args.input else {})}
        hook = api.call("POST", base, json=body)
        print(f"{hook['name']:<24} {hook['id']:<24} {hook['url']}")
        print(f"secret {hook['secret']}  (shown once: keep it now)")
    else:
        api.call("DELETE", f"{base}/{quote(args.hook, safe='')}")
        print(f"deleted {args.hook}")
    return 0


def _rule_line(rule: dict[str, Any]) -> str:
    return f"{rule['name']:<24} on {rule['event']:<24} starts {rule['workflow']}"


def _rules(api: Api, args: argparse.Namespace) -> int:
    """`segue rules list|show|put|delete [NAME]`."""
    if args.verb == "list":
        for rule in api.call("GET", "/rules")["rules"]:
            print(_rule_line(rule))
        return 0
    path = f"/rules/{quote(args.name, safe='')}"
    if args.verb == "delete":
        api.call("DELETE", path)
        print(f"deleted {args.name}")
        return 0
    if args.verb == "put":
        body = {"event": args.event, "workflow": args.workflow}
        body.update({k: v for k, v in (("criteria", args.criteria), ("input", args.input)) if v})
        rule = api.call("PUT", path, json=body)
    else:
        rule = api.call("GET", path)
    print(_rule_line(rule))
    for part in ("criteria", "input"):
        if rule.get(part):
            print(f"  {part}: {rule[part]}")
    return 0


def _register(api: Api, args: argparse.Namespace) -> int:
    answer = register_file(api, args.file, args.name)
    state = "registered" if answer.get("created") else "unchanged"
    print(f"{answer['name']} v{answer['version']} ({state})")
    for warning in answer.get("warnings") or []:
        print(f"  warning: {error_line(warning)}", file=sys.stderr)
    return 0


def _events(api: Api, args: argparse.Namespace) -> int:
    payload = read_document(args.payload, "payload") if args.payload else None
    body = {"event": args.event, "key": args.key, "payload": payload}
    answer = api.call("POST", "/events", json=body)
    matched = answer.get("matchedRuns") or []
    print(f"event {answer.get('eventId')}: delivered to {len(matched)} run(s)")
    for run_id in matched:
        print(f"  {run_id}")
    return 0


def _export(api: Api, args: argparse.Namespace) -> int:
    from api.export_files import case_yaml, write_case

    case = api.call("GET", f"/runs/{args.run}/export")
    for note in case.get("inexact") or []:
        print(f"segue export: inexact: {note}", file=sys.stderr)
    if args.dir is None:
        print(case_yaml(case), end="")
        return 0
    paths = write_case(case, Path(args.dir))
    print(
        f"segue simulate {paths['workflow']} --input @{paths['input']} "
        f"--mocks {paths['mocks']} --json"
    )
    return 0


COMMANDS: dict[str, Command] = {
    "runs": _runs,
    "trace": _trace,
    "logs": _logs,
    "cancel": _run_action("cancel"),
    "pause": _run_action("pause"),
    "resume": _run_action("resume"),
    "rerun": _rerun,
    "signal": _signal,
    "workflows": _workflows,
    "limits": _limits,
    "schedules": _schedules,
    "webhooks": _webhooks,
    "rules": _rules,
    "register": _register,
    "events": _events,
    "export": _export,
}
