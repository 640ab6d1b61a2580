"""`segue run`, and what the commands that talk to a running API share: finding it,
calling it, following a run.

The API is found at `--api`, else SEGUE_API_URL, else the one `segue dev` announced in
its data dir; `segue run` starts the embedded stack itself when none is running.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx

from api.cli_render import error_line, problem_lines, status_word
from api.found_api import FoundApi, data_dir, find_api
from engine.cli.simulate import UsageProblem, read_document

TERMINAL_EVENTS = frozenset({"WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED"})


class ApiProblem(Exception):
    """The API answered with an error (problem JSON) or could not be reached."""


@contextlib.contextmanager
def embedded_stack() -> Iterator[FoundApi]:
    """Run `segue dev` in this process for as long as the block lasts, on free ports."""
    from api.devstack import DevSettings, dev_main, request_stop
    from api.stackstate import wait_for_record

    settings = DevSettings.from_env()
    settings.api_port = settings.temporal_port = settings.ui_port = settings.demo_port = 0
    thread = threading.Thread(
        target=dev_main, args=(settings,), kwargs={"handle_signals": False}, daemon=True
    )
    thread.start()
    try:
        record = wait_for_record(settings.data_dir, thread.is_alive, timeout=120)
        if record is None:
            raise ApiProblem("the embedded stack did not start (see the messages above)")
        yield FoundApi(record.api, record.demo)
    finally:
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
    if not isinstance(problem, dict):
        return f"HTTP {response.status_code}: {response.text[:500]}"
    return "\n".join(problem_lines(response.status_code, problem))


WORKFLOW_SUFFIXES = (".yaml", ".yml")


def register_file(api: Api, file: str, name: str | None = None) -> dict[str, Any]:
    """Register a workflow file (under `name`, else the file's stem); the API's answer."""
    path = Path(file)
    answer: dict[str, Any] = api.call(
        "POST",
        "/workflows",
        params={"name": name or path.stem},
        content=path.read_bytes(),
        headers={"content-type": "application/yaml"},
    )
    return answer


def _register_or_name(api: Api, target: str, name: str | None) -> str:
    """The workflow to run: a file, registered first, or the name of a registered one."""
    path = Path(target)
    if path.is_file():
        try:
            return str(register_file(api, target, name)["name"])
        except ApiProblem as problem:
            if "[NAME_INVALID]" in str(problem) and name is None:
                raise ApiProblem(f"{problem}\n  choose a name with --name NAME") from None
            raise
    if path.suffix in WORKFLOW_SUFFIXES or os.sep in target:
        raise UsageProblem(f"no such file: {target}")
    return target


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


def follow_run(
    api: Api,
    run_id: str,
    show: Callable[[dict[str, Any]], str | None] | None = None,
    to: TextIO = sys.stderr,
) -> None:
    """Print the run's events from the SSE stream (live progress lines unless `show`
    formats them) until its terminal event, or until the stream ends (the server ends it
    once the run has ended, a run terminated in Temporal included); resume after a lost
    connection from the last event seen."""
    started: dict[str, float] = {}
    show = show or (lambda event: _progress_line(event, started))
    last_id: str | None = None
    while True:
        headers = {"last-event-id": last_id} if last_id else {}
        try:
            with api.http.stream(
                "GET", f"/runs/{run_id}/stream", headers=headers, timeout=None
            ) as stream:
                if stream.status_code >= 400:
                    stream.read()
                    raise ApiProblem(_problem_text(stream))
                for line in stream.iter_lines():
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    if not line.startswith("data:"):
                        continue
                    envelope = json.loads(line[5:])
                    for event in envelope.get("events", []):
                        text = show(event)
                        if text:
                            print(text, file=to, flush=True)
                        if event["type"] in TERMINAL_EVENTS:
                            return
            return  # the stream ended without a terminal event: the run ended all the same
        except httpx.HTTPError:
            time.sleep(1)  # the API restarted: resume from the last event seen


# The run's trace ends before Temporal has closed the run (the workflow writes its last
# events, then completes), and the API shows only what Temporal accepted: the status
# can still say RUNNING for a moment after the terminal event.
SETTLE_SECONDS = 30.0
LIVE_STATUSES = frozenset({"RUNNING", "QUEUED", "PAUSED"})


def settled_status(api: Api, run_id: str) -> dict[str, Any]:
    """The run's status once Temporal has closed it (or as it stands after a while)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    pause = 0.05
    while True:
        final: dict[str, Any] = api.call("GET", f"/runs/{run_id}")
        if final.get("status") not in LIVE_STATUSES or time.monotonic() >= deadline:
            return final
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def follow_logs(
    api: Api, run_id: str, params: dict[str, Any], show: Callable[[dict[str, Any]], str]
) -> None:
    """Print the run's log lines from the SSE stream as they are written, until the run
    has ended and every line is out (the stream closes then); resume after a lost
    connection from the last line seen."""
    last_id: str | None = None
    while True:
        headers = {"last-event-id": last_id} if last_id else {}
        try:
            with api.http.stream(
                "GET", f"/runs/{run_id}/logs/stream", params=params, headers=headers, timeout=None
            ) as stream:
                if stream.status_code >= 400:
                    stream.read()
                    raise ApiProblem(_problem_text(stream))
                for line in stream.iter_lines():
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    if line.startswith("data:"):
                        for entry in json.loads(line[5:]).get("logs", []):
                            print(show(entry), flush=True)
            return  # the stream ended: the run has ended and every line was sent
        except httpx.HTTPError:
            time.sleep(1)  # the API restarted: resume from the last line seen


# An input default that begins with this is the demo service of the stack the run goes
# to: `segue run` fills it in. The `.invalid` domain never resolves (RFC 2606), so a run
# started any other way fails plainly instead of polling a service nobody started for it.
DEMO_PLACEHOLDER = "http://segue-demo.invalid"


def fill_demo_inputs(target: str, run_input: dict[str, Any], demo: str) -> dict[str, Any]:
    """The run input with each demo-service default of the workflow file made concrete."""
    path = Path(target)
    if not demo or not path.is_file():
        return run_input
    import yaml

    try:
        declared = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("input") or {}
    except (yaml.YAMLError, AttributeError, OSError):
        return run_input  # registration reports what is wrong with the file
    filled = dict(run_input)
    for name, spec in declared.items() if isinstance(declared, dict) else []:
        default = spec.get("default") if isinstance(spec, dict) else None
        if name not in filled and isinstance(default, str) and default.startswith(DEMO_PLACEHOLDER):
            filled[name] = demo + default.removeprefix(DEMO_PLACEHOLDER)
    return filled


def _interrupted(run_id: str | None, *, own_stack: bool) -> None:
    """What Ctrl-C (or SIGTERM, SIGHUP) on `segue run` leaves behind, in plain words."""
    if run_id is None:
        text = "segue run: interrupted before the run started"
    elif own_stack:
        text = (
            f"segue run: interrupted; the stack this command started is stopped. Run {run_id} "
            f"is kept in {data_dir()} and goes on when a stack starts there again "
            f"(`segue dev`); to cancel it then: segue cancel {run_id}"
        )
    else:
        text = (
            f"segue run: stopped following; run {run_id} goes on. "
            f"See it: segue trace {run_id}; cancel it: segue cancel {run_id}"
        )
    with contextlib.suppress(OSError, ValueError):
        print(f"\n{text}", file=sys.stderr, flush=True)


def _signals_interrupt() -> None:
    """SIGTERM and SIGHUP end `segue run` the way Ctrl-C does (stack stopped, message)."""
    from api.devstack import STOP_SIGNALS, _raise_stop

    for signum in STOP_SIGNALS[1:]:
        signal.signal(signum, _raise_stop)


def run_main(args: argparse.Namespace) -> int:
    """`segue run FILE|NAME`: submit, show progress, print the output; 0 only on success."""
    try:
        run_input = read_document(args.input, "input") if args.input else {}
    except UsageProblem as problem:
        print(f"segue run: {problem}", file=sys.stderr)
        return 2
    if not isinstance(run_input, dict):
        print("segue run: --input must be a JSON object", file=sys.stderr)
        return 2
    target = Path(args.target)
    if not target.is_file() and (target.suffix in WORKFLOW_SUFFIXES or os.sep in args.target):
        print(f"segue run: no such file: {args.target}", file=sys.stderr)
        return 2
    _signals_interrupt()
    found = find_api(args.api)
    own_stack = found is None
    if own_stack and args.detach:
        print(
            "segue run: --detach needs a running stack (start `segue dev`, or set "
            "SEGUE_API_URL): a stack this command started would stop with it",
            file=sys.stderr,
        )
        return 2
    run_id: str | None = None
    try:
        with contextlib.ExitStack() as stack:
            if found is None:
                print("segue run: no API running; starting the embedded stack…", file=sys.stderr)
                found = stack.enter_context(embedded_stack())
            api = Api(found.url, args.token or os.environ.get("SEGUE_API_TOKEN"))
            name = _register_or_name(api, args.target, args.name)
            body: dict[str, Any] = {"input": fill_demo_inputs(args.target, run_input, found.demo)}
            if args.version is not None:
                body["version"] = args.version
            run = api.call("POST", f"/workflows/{name}/runs", json=body)
            run_id = run["runId"]
            if args.detach:
                print(run_id)
                return 0
            print(f"run {run_id} of {name}", file=sys.stderr, flush=True)
            follow_run(api, run["runId"])
            final = settled_status(api, run["runId"])
    except (ApiProblem, UsageProblem) as problem:
        print(f"segue run: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        _interrupted(run_id, own_stack=own_stack)
        return 128 + _signal_number(interrupt)
    print(json.dumps(final.get("output"), ensure_ascii=False), flush=True)
    print_outcome(final)
    return 0 if final["status"] == "COMPLETED" else 1


def print_outcome(final: dict[str, Any]) -> None:
    """The run's errors (said to be handled when the run succeeded) and its status."""
    errors = final.get("errors") or []
    if errors:
        handled = final["status"] == "COMPLETED"
        print(
            "handled failures (the workflow's transitions dealt with them):"
            if handled
            else "errors:",
            file=sys.stderr,
        )
        for error in errors:
            print(f"  {error_line(error)}", file=sys.stderr)
    failure = final.get("failure") or {}
    if failure.get("reason"):
        print(f"  {failure['reason']}", file=sys.stderr)
    print(f"status: {status_word(final['status'])}", file=sys.stderr)


def _signal_number(interrupt: KeyboardInterrupt) -> int:
    name = str(interrupt.args[0]) if interrupt.args else "SIGINT"
    return int(signal.Signals[name]) if name in signal.Signals.__members__ else 2
