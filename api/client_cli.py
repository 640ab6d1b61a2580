"""The operator commands that talk to a running API: `segue run`, `runs`, `trace`,
`cancel`, `rerun`, `signal`.

The API is found at `--api`, else SEGUE_API_URL, else the one `segue dev` announced in
its data dir; `segue run` starts the embedded stack itself when none is running.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from engine.cli.simulate import UsageProblem, read_document

TERMINAL_EVENTS = frozenset({"WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED"})


class ApiProblem(Exception):
    """The API answered with an error (problem JSON) or could not be reached."""


def data_dir() -> Path:
    return Path(os.environ.get("SEGUE_DATA_DIR", ".segue")).resolve()


def find_api(explicit: str | None) -> str | None:
    if explicit:
        return explicit.rstrip("/")
    if os.environ.get("SEGUE_API_URL"):
        return os.environ["SEGUE_API_URL"].rstrip("/")
    announced = data_dir() / "api-url"
    if announced.is_file():
        url = announced.read_text().strip()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code < 500:
                return url
    return None


@contextlib.contextmanager
def embedded_stack() -> Iterator[str]:
    """Run `segue dev` in this process for as long as the block lasts; its API URL."""
    from api.devstack import DevSettings, dev_main

    settings = DevSettings.from_env()
    announced = settings.data_dir / "api-url"
    with contextlib.suppress(FileNotFoundError):
        announced.unlink()
    thread = threading.Thread(
        target=dev_main, args=(settings,), kwargs={"handle_signals": False}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 120
    while not announced.is_file():
        if time.monotonic() > deadline or not thread.is_alive():
            raise ApiProblem("the embedded stack did not start (see the messages above)")
        time.sleep(0.2)
    try:
        yield announced.read_text().strip()
    finally:
        from api.devstack import request_stop

        request_stop()
        thread.join(60)


class Api:
    def __init__(self, url: str, token: str | None) -> None:
        # X-Segue-Client marks the request as not a browser's cross-site one, so that
        # bodyless writes (cancel, pause) pass the API's guard when it runs without auth.
        headers = {"x-segue-client": "segue-cli"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.url = url
        self.http = httpx.Client(base_url=url, headers=headers, timeout=30)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ApiProblem(f"{method} {self.url}{path}: {error}") from None
        if response.status_code >= 400:
            raise ApiProblem(_problem_text(response))
        return response.json() if response.content else None


def _problem_text(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    title, code = problem.get("title", "error"), problem.get("code", "")
    lines = [f"{title} ({response.status_code} {code}): {problem.get('detail', '')}"]
    for error in problem.get("errors", []) or []:
        where = ":".join(
            str(error.get(k)) for k in ("file", "line", "column") if error.get(k) is not None
        )
        lines.append(f"  {where}: {error.get('category', '')}: {error.get('message', error)}")
    return "\n".join(lines)


def _register_or_name(api: Api, target: str) -> str:
    path = Path(target)
    if not path.is_file():
        return target
    name = path.stem
    api.call(
        "POST",
        "/workflows",
        params={"name": name},
        content=path.read_bytes(),
        headers={"content-type": "application/yaml"},
    )
    return name


def _progress_line(event: dict[str, Any], started: dict[str, float]) -> str | None:
    node = event.get("nodeId")
    data = event.get("data") or {}
    kind = event["type"]
    if node is None:
        return f"run      {kind.removeprefix('WORKFLOW_').lower()}"
    key = f"{node}#{data.get('iteration')}#{data.get('route')}"
    now = time.monotonic()
    if kind == "STARTED":
        started[key] = now
        return f"{node:<20} #{data.get('iteration', '?'):<5} started"
    if kind in ("COMPLETED", "FAILED"):
        took = now - started.pop(key, now)
        status = data.get("status", kind.lower())
        return f"{node:<20} #{data.get('iteration', '?'):<5} {status:<10} {took:6.2f} s"
    if kind == "PROGRESS":
        return f"{node:<20} #{data.get('iteration', '?'):<5} {event.get('message', '')}"
    return None


def _follow(api: Api, run_id: str) -> None:
    """Print live progress from the SSE stream until the run's terminal event."""
    started: dict[str, float] = {}
    last_id: str | None = None
    while True:
        headers = {"last-event-id": last_id} if last_id else {}
        try:
            with api.http.stream(
                "GET", f"/runs/{run_id}/stream", headers=headers, timeout=None
            ) as stream:
                for line in stream.iter_lines():
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    if not line.startswith("data:"):
                        continue
                    envelope = json.loads(line[5:])
                    for event in envelope.get("events", []):
                        text = _progress_line(event, started)
                        if text:
                            print(text, file=sys.stderr, flush=True)
                        if event["type"] in TERMINAL_EVENTS:
                            return
        except httpx.HTTPError:
            time.sleep(1)  # the API restarted: resume from the last event seen


def run_main(args: argparse.Namespace) -> int:
    """`segue run FILE|NAME`: submit, show progress, print the output; 0 only on success."""
    try:
        run_input = read_document(args.input, "input") if args.input else {}
    except UsageProblem as problem:
        print(f"segue run: {problem}", file=sys.stderr)
        return 2
    url = find_api(args.api)
    with contextlib.ExitStack() as stack:
        if url is None:
            print("segue run: no API running; starting the embedded stack…", file=sys.stderr)
            url = stack.enter_context(embedded_stack())
        api = Api(url, args.token or os.environ.get("SEGUE_API_TOKEN"))
        try:
            name = _register_or_name(api, args.target)
            body: dict[str, Any] = {"input": run_input or {}}
            if args.version is not None:
                body["version"] = args.version
            run = api.call("POST", f"/workflows/{name}/runs", json=body)
            print(f"run {run['runId']} of {name}", file=sys.stderr, flush=True)
            _follow(api, run["runId"])
            final = api.call("GET", f"/runs/{run['runId']}")
        except ApiProblem as problem:
            print(f"segue run: {problem}", file=sys.stderr)
            return 2
    print(json.dumps(final.get("output"), ensure_ascii=False), flush=True)
    if final.get("errors"):
        for error in final["errors"]:
            print(f"  [{error.get('type')}] {error.get('message')}", file=sys.stderr)
    print(f"status: {final['status']}", file=sys.stderr)
    return 0 if final["status"] == "COMPLETED" else 1


def operator_main(args: argparse.Namespace) -> int:
    """`segue runs`, `segue trace RUN`, `segue cancel RUN`, `segue rerun RUN`,
    `segue signal RUN TASK`."""
    url = find_api(args.api)
    if url is None:
        print(
            f"segue {args.command}: no API found (set SEGUE_API_URL or start `segue dev`)",
            file=sys.stderr,
        )
        return 2
    api = Api(url, args.token or os.environ.get("SEGUE_API_TOKEN"))
    try:
        if args.command == "runs":
            params = {k: v for k, v in (("workflow", args.workflow), ("status", args.status)) if v}
            page = api.call("GET", "/runs", params={**params, "limit": args.limit})
            for run in page["runs"]:
                started = run.get("startedAt") or ""
                print(f"{run['runId']}  {run['workflowId']:<20} {run['status']:<10} {started}")
        elif args.command == "trace":
            cursor = None
            while True:
                params = {"cursor": cursor} if cursor else {}
                page = api.call("GET", f"/runs/{args.run}/trace", params=params)
                for event in page["events"]:
                    print(json.dumps(event, ensure_ascii=False))
                cursor = page.get("cursor")
                if not page["events"] or not cursor:
                    break
        elif args.command == "cancel":
            print(json.dumps(api.call("POST", f"/runs/{args.run}/cancel")))
        elif args.command == "rerun":
            body = {"from": "failed" if args.failed else "start"}
            print(json.dumps(api.call("POST", f"/runs/{args.run}/rerun", json=body)))
        elif args.command == "signal":
            payload = read_document(args.payload, "payload") if args.payload else None
            signal_body: dict[str, Any] = {"payload": payload}
            if args.item is not None:
                signal_body["item"] = args.item
            path = f"/runs/{args.run}/signals/{args.task}"
            print(json.dumps(api.call("POST", path, json=signal_body)))
    except (ApiProblem, UsageProblem) as problem:
        print(f"segue {args.command}: {problem}", file=sys.stderr)
        return 1
    return 0


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
    runs.add_argument("--status")
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
