"""Record Temporal histories of example runs for the replay test.

    python tests/temporal/histories/record.py [CASE ...]

Runs each case below (or those named) on a fresh dev server through a real worker and
writes `<case>.json` (the full event history) beside this file. The `monitoring`,
`local` and several `example-*` cases call an HTTP server on 127.0.0.1: allow it with
`SEGUE_EGRESS_ALLOW=127.0.0.0/8` (loopback is denied by default). Re-record only when the
interpreter changes on purpose; the replay test exists to catch accidental changes that
would break runs already in flight (Temporal replays their histories on new code).

Histories of an older release stay in the corpus under their own name: they are the
runs in flight that an upgrade must not disturb. `joins-behaviour-1.json` was recorded
by the coordinator of commit ccf14fb (the last with behaviour 1, engine/coordinator/
behaviour.py): `git worktree add /tmp/old ccf14fb`, copy this file and joins.yaml there,
run `python tests/temporal/histories/record.py joins` in it, rename the output.

A case may name the newest behaviour its run may take (`behaviour`): its run is then
recorded as a release that knew no newer one would start it, so a history recorded while
a newer behaviour is still open (gated changes are being added to it) stays valid when
they land.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from temporalio import workflow  # noqa: E402
from temporalio.client import (  # noqa: E402
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)

from engine.actions.api import ActionContext, ActionDefinition, ActionError  # noqa: E402
from engine.actions.builtin import builtin_actions  # noqa: E402
from engine.actions.catalog import ActionCatalog  # noqa: E402
from engine.coordinator.behaviour import Behaviour  # noqa: E402
from engine.store import (  # noqa: E402
    NewRun,
    RunStatus,
    create_run,
    get_rerun_point,
    open_pool,
    register_workflow_version,
)
from engine.temporal import versioning  # noqa: E402
from engine.temporal.activities import (  # noqa: E402
    SegueActivities,
    WorkflowLookup,
    directory_lookup,
)
from engine.temporal.devserver import start_dev_server  # noqa: E402
from engine.temporal.store_sink import StoreTaskLogs, trace_sink  # noqa: E402
from engine.temporal.types import (  # noqa: E402
    INTERPRETER_WORKFLOW,
    QUERY_PROGRESS,
    SIGNAL_DELIVER,
    SIGNAL_LIMIT,
    SIGNAL_PAUSE,
    SIGNAL_RESUME,
    UPDATE_ANSWER,
    InterpreterInput,
    LimitSignal,
    SignalPayload,
    WorkflowFound,
)
from engine.temporal.worker import build_worker, connect  # noqa: E402
from tests.support.postgres import LOCAL_SERVER_URL, temporary_database  # noqa: E402

HERE = Path(__file__).parent
WORKFLOWS = HERE.parent / "workflows"
EXAMPLES = ROOT / "examples"
# Services the examples' hosts stand for that answer 503 (the others 200), as in their
# `.mocks.yaml`: fan-out-join's `db`, with-items-hosts' second host.
DOWN = ("db", "beta")


class _Health(BaseHTTPRequestHandler):
    """Answers 503 twice, then 200; under /hosts/, 503 for the hosts in DOWN, 200 for
    the others, however often asked (their order of arrival is the run's own)."""

    calls = 0

    def do_GET(self) -> None:
        if self.path.startswith("/hosts/"):
            status = 503 if self.path.rsplit("/", 1)[-1] in DOWN else 200
        else:
            type(self).calls += 1
            status = 200 if type(self).calls > 2 else 503
        body = json.dumps({"healthy": status == 200}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


CASES: dict[str, dict[str, Any]] = {
    "monitoring": {"file": EXAMPLES / "monitoring.yaml", "input": {"interval": 1}},
    "features": {
        "file": HERE / "features.yaml",
        "input": {},
        "signal": ("approve", {"approved": True, "by": "ada"}),
    },
    "joins": {"file": HERE / "joins.yaml", "input": {}},
    # Behaviour 3: five answers for a task that does not wait: the first is recorded (an
    # accepted and failed Update), the validator turns the four others away; then the
    # approval is taken.
    "refusals": {
        "file": HERE / "features.yaml",
        "input": {},
        "answers": [
            *[("gather", {"approved": True})] * 5,
            ("approve", {"approved": True, "by": "ada"}),
        ],
    },
    # Behaviour 3: a publish over the context cap fails the run (payload_too_large).
    "context": {"file": HERE / "context.yaml", "input": {}},
    # Behaviour 3: a failed publish on a `do: retry` transition ends the attempt and
    # fails the run (behaviour 2 left the attempt running for ever).
    "retry-publish": {"file": HERE / "retry-publish.yaml", "input": {}},
    # Behaviour 3: answers as Updates, one refused (a task that does not wait), one
    # taken, and a second answer for the same wait refused; an early signal dropped.
    "answers": {
        "file": HERE / "features.yaml",
        "input": {},
        "early_signal": ("approve", {"approved": True, "by": "early"}),
        "answers": [
            ("gather", {"approved": True}),
            ("approve", {"approved": True, "by": "ada"}),
            ("approve", {"approved": True, "by": "eve"}),
        ],
    },
    # Behaviour 3: http.request as a local activity, retried with backoff (the service
    # answers 503 twice), then moved back to an activity by the task's `run`.
    "local": {"file": HERE / "local.yaml", "input": {}},
    # Behaviour 3: a cancel while a timer and a wait are in flight; a pause and a resume;
    # a task timeout handled, then the run's own timeout; a loop that continues as new
    # (`continued.json` is its first run, `continued-last.json` its last).
    "cancel": {"file": HERE / "cancel.yaml", "input": {}, "cancel_after": 1.5},
    "pause": {"file": HERE / "pause.yaml", "input": {}, "pause": (0.5, 2.0)},
    "timeouts": {"file": HERE / "timeouts.yaml", "input": {}},
    "continued": {"file": HERE / "continued.yaml", "input": {}, "small_history": True},
    # Behaviour 3: a named secret resolved once by a local activity; a secret input.
    "secrets": {
        "file": HERE / "secrets.yaml",
        "input": {"token": "replay-token-1234"},
        "env": {"SEGUE_SECRET_REPLAY_KEY": "replay-key-5678"},
    },
    # Behaviour 3: a failed run with secrets; its failure's second detail is its real
    # rerun point (the store gets it masked).
    "secret-rerun": {
        "file": HERE / "secret-rerun.yaml",
        "input": {"token": "replay-token-4321"},
        "env": {"SEGUE_SECRET_REPLAY_KEY": "replay-key-8765"},
    },
    # Behaviour 3: a secret input passed into a child that does not declare it secret:
    # the child's start input carries it to mask.
    "secret-child": {"file": HERE / "secret-child.yaml", "input": {"token": "replay-child-2468"}},
    # Behaviour 3: an action reports progress twice, 5.5 s apart, and stores an artifact;
    # its activity signals each (`task_progress`, `task_artifact`) and the run adds a
    # PROGRESS trace event for each. Recorded with a PostgreSQL store (a temporary
    # database on the local server): an artifact is announced once stored.
    "progress": {"file": HERE / "progress.yaml", "input": {}, "trace": True, "store": True},
    # Behaviour 3: a run queued for a concurrency limit behind a holder of its key, woken
    # by the holder's release signal; it then runs and releases itself (the limiter is
    # the temporary database's).
    "limits": {"file": HERE / "limits.yaml", "input": {}, "behind": "replay-limits-holder"},
    # Behaviour 3, since the gate confirms a `limit` signal with the store: the queued run
    # gets a forged grant first (the store says it still waits: it waits on), then the
    # holder's real one (the store says it holds: it runs).
    "limits-forged": {
        "file": HERE / "limits.yaml",
        "input": {},
        "behind": "replay-limits-forged-holder",
        "forge": True,
    },
    # Behaviour 3: a task's concurrency limit; its second with-items attempt waits for the
    # first's release (the limiter is the temporary database's).
    "task-limits": {"file": HERE / "task-limits.yaml", "input": {}},
    # Behaviour 3: a rerun from the failed tasks (`rerun: True`): the run that fails is
    # `rerun-failed.json`; its rerun point, read from the store as the API reads it for
    # POST /runs/{id}/rerun, starts the run in `rerun.json` at the failed with-items task.
    "rerun": {
        "file": HERE / "rerun.yaml",
        "input": {},
        "trace": True,
        "store": True,
        "rerun": True,
        "behaviour": Behaviour.OBSERVED,
    },
    # Behaviour 3: the monitoring example traced to a PostgreSQL store; every evaluated
    # transition of its loop is a TRANSITION event in the trace batches it wrote.
    "transitions": {
        "file": EXAMPLES / "monitoring.yaml",
        "input": {"interval": 1},
        "trace": True,
        "store": True,
    },
    # Behaviour 4: each attempt's outcome event shows its rendered input (greet's over
    # 8 KiB: a clipped preview) and each taken TRANSITION the values it published; the
    # events ride in the next action's activity input, which the history keeps.
    "explained": {
        "file": HERE / "explained.yaml",
        "input": {"name": "ada"},
        "trace": True,
        "store": True,
    },
    # Behaviour 5: the second item of a limited task waits in line for the first's slot;
    # the trace its activity carries says when it got it (`slots.yaml`).
    "slots": {"file": HERE / "slots.yaml", "input": {}, "trace": True, "store": True},
    # Behaviour 6: failed attempts (a retried task, retried items, a task that fails for
    # good) trace how long each waited for a worker and ran (`attempts.yaml`).
    "attempts": {"file": HERE / "attempts.yaml", "input": {}, "trace": True, "store": True},
    # Behaviour 4: every other example as it is (monitoring's is `monitoring` above), with
    # what its `.mocks.yaml` assumes: the approval given by ada; the registered `greeting`
    # workflow (workflows/greeting.yaml) as the child; its services on 127.0.0.1
    # (`loopback`: input field -> path on the recorder's HTTP server).
    "example-approval": {
        "file": EXAMPLES / "approval.yaml",
        "input": {},
        "answers": [("approve", {"approved": True, "by": "ada"})],
    },
    "example-child-workflow": {"file": EXAMPLES / "child-workflow.yaml", "input": {}},
    "example-conditional-loop": {"file": EXAMPLES / "conditional-loop.yaml", "input": {}},
    "example-fan-out-join": {
        "file": EXAMPLES / "fan-out-join.yaml",
        "input": {},
        "loopback": {"base": "/hosts"},
    },
    # The health check answers 503 twice, then 200: two rollbacks, three deploys.
    "example-retry-with-cycle": {
        "file": EXAMPLES / "retry-with-cycle.yaml",
        "input": {},
        "loopback": {"health_url": "/health"},
    },
    "example-with-items-hosts": {
        "file": EXAMPLES / "with-items-hosts.yaml",
        "input": {},
        "loopback": {"base": "/hosts"},
    },
}
# The history length at which the `small_history` cases' server suggests continue-as-new.
SMALL_HISTORY = 150


async def _scan(input: Any, context: ActionContext) -> dict[str, Any]:
    context.progress(1, 2, "scanned 1/2")
    await asyncio.sleep(5.5)  # past the activity's signal throttle (task_logs.py)
    context.progress(2, 2, "scanned 2/2")
    context.artifact("scan.json", b'{"scanned": 2}')
    await asyncio.sleep(0.5)
    return {"scanned": 2}


async def _greet(input: Any, context: ActionContext) -> dict[str, Any]:
    return {"greeting": f"hello {input['name']}"}


async def _flaky(input: Any, context: ActionContext) -> dict[str, Any]:
    """Fails the first attempt (every attempt with `always`), then greets."""
    if input.get("always") or context.attempt == 1:
        raise ActionError("flaky", f"attempt {context.attempt} of {input['name']} failed")
    return {"greeting": f"hello {input['name']}"}


async def _waiting_execution(handle: WorkflowHandle[Any, Any], task: str) -> int | None:
    """The execution of the task's wait (kept after it is answered, as the API pins)."""
    pin = (handle.id, task)  # per run: several cases answer an `approve` task
    for _ in range(50):
        progress = await handle.query(QUERY_PROGRESS)
        for wait in progress["waiting"]:
            if wait["task"] == task:
                _PINNED[pin] = int(wait["execution"])
        if pin in _PINNED:
            return _PINNED[pin]
        await asyncio.sleep(0.1)
    return None


_PINNED: dict[tuple[str, str], int] = {}


def _workflow_lookup() -> WorkflowLookup:
    """The test workflows, then the registered ones of workflows/ (the examples' children)."""
    lookups = [directory_lookup(WORKFLOWS), directory_lookup(ROOT / "workflows")]

    async def lookup(name: str) -> WorkflowFound | None:
        for each in lookups:
            if (found := await each(name)) is not None:
                return found
        return None

    return lookup


async def _wait_status(handle: WorkflowHandle[Any, Any], status: str) -> None:
    """Until the run shows `status` (RUNNING: and waits for an answer, so it is past its
    admission and holds its slots)."""
    for _ in range(100):
        progress = await handle.query(QUERY_PROGRESS)
        if progress["status"] == status and (status != "RUNNING" or progress["waiting"]):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id} never became {status}")


async def record(names: list[str]) -> None:
    wanted = {name: case for name, case in CASES.items() if not names or name in names}
    for small_history in (False, True):
        cases = {n: c for n, c in wanted.items() if c.get("small_history", False) is small_history}
        if cases:
            with temporary_database(LOCAL_SERVER_URL) as database:
                await _record(cases, small_history, database)


async def _record(cases: dict[str, dict[str, Any]], small_history: bool, database: str) -> None:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    extra = ["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={SMALL_HISTORY}"]
    server = start_dev_server(extra_args=extra if small_history else None)
    pool = await open_pool(database)
    try:
        client = await connect(server.address)
        queue = f"record-{uuid.uuid4().hex[:6]}"
        catalog = ActionCatalog(
            [
                *builtin_actions(),
                ActionDefinition("replay.scan", _scan),
                ActionDefinition("replay.greet", _greet),
                ActionDefinition("replay.flaky", _flaky),
            ]
        )
        activities = SegueActivities(catalog, workflow_lookup=_workflow_lookup(), limit_store=pool)
        stored = SegueActivities(
            catalog, trace_sink=trace_sink(pool), task_logs=StoreTaskLogs(pool), limit_store=pool
        )
        async with (
            build_worker(client, activities, task_queue=queue),
            build_worker(client, stored, task_queue=f"{queue}-stored"),
        ):
            for name, case in cases.items():
                text = Path(case["file"]).read_text()
                run_input = dict(case["input"])
                os.environ.update(case.get("env", {}))
                if name in ("monitoring", "local", "continued", "transitions", "rerun"):
                    _Health.calls = 0
                    run_input["url"] = f"http://127.0.0.1:{http.server_port}/health"
                for field, path in case.get("loopback", {}).items():
                    _Health.calls = 0
                    run_input[field] = f"http://127.0.0.1:{http.server_port}{path}"
                # A rerun case's first run is the one that fails; the rerun takes the name.
                run_id = f"replay-{name}-failed" if case.get("rerun") else f"replay-{name}"
                traced = bool(case.get("trace"))  # no store: the trace activity writes nothing
                case_queue = queue
                stored_version = None
                if case.get("store"):
                    case_queue = f"{queue}-stored"
                    stored_version = await register_workflow_version(
                        pool, name, text, hashlib.sha256(text.encode()).hexdigest()
                    )
                    await create_run(
                        pool,
                        NewRun(
                            run_id=run_id,
                            workflow_name=name,
                            workflow_version=stored_version.version,
                            task_queue=case_queue,
                            status=RunStatus.QUEUED,
                        ),
                    )
                params = InterpreterInput(
                    run_id,
                    name,
                    "1",
                    text,
                    run_input,
                    case_queue,
                    trace=traced,
                    local_actions=activities.catalog.local_actions(),  # as the API starts runs
                )
                holder = None
                if "behind" in case:
                    first_params = replace(params, run_id=case["behind"])
                    holder = await client.start_workflow(
                        INTERPRETER_WORKFLOW, first_params, id=case["behind"], task_queue=queue
                    )
                    await _wait_status(holder, "RUNNING")
                with _newest_behaviour(case.get("behaviour")):
                    handle = await client.start_workflow(
                        INTERPRETER_WORKFLOW, params, id=run_id, task_queue=case_queue
                    )
                    await _follow(handle, case, holder)
                if case.get("rerun"):
                    (HERE / f"{name}-failed.json").write_text(
                        (await handle.fetch_history()).to_json()
                    )
                    point = await get_rerun_point(pool, run_id)
                    if point is None or stored_version is None:
                        raise AssertionError(f"{run_id} left no rerun point in the store")
                    run_id = f"replay-{name}"
                    await create_run(
                        pool,
                        NewRun(
                            run_id=run_id,
                            workflow_name=name,
                            workflow_version=stored_version.version,
                            task_queue=case_queue,
                            status=RunStatus.QUEUED,
                            rerun_of=params.run_id,
                            rerun_from_failed=True,
                        ),
                    )
                    with _newest_behaviour(case.get("behaviour")):
                        handle = await client.start_workflow(
                            INTERPRETER_WORKFLOW,
                            replace(params, run_id=run_id, rerun=point),
                            id=run_id,
                            task_queue=case_queue,
                        )
                        await _follow(handle, case, None)
                first = client.get_workflow_handle(run_id, run_id=handle.first_execution_run_id)
                history = await first.fetch_history()
                (HERE / f"{name}.json").write_text(history.to_json())
                last = client.get_workflow_handle(run_id)  # the latest run of a chain
                if (await last.describe()).run_id != handle.first_execution_run_id:
                    (HERE / f"{name}-last.json").write_text((await last.fetch_history()).to_json())
    finally:
        await pool.close()
        server.stop()
        http.shutdown()


@contextmanager
def _newest_behaviour(newest: Behaviour | None) -> Iterator[None]:
    """Runs started (and their first workflow tasks) in this block take at most `newest`:
    the markers of newer behaviours are not asked for, as by a release without them."""
    if newest is None:
        yield
        return
    newer = {versioning.patch_id(b) for b in Behaviour if b > newest}

    class Release:
        @staticmethod
        def patched(patch_id: str) -> bool:
            return patch_id not in newer and workflow.patched(patch_id)

    versioning.workflow = Release  # type: ignore[assignment]
    try:
        yield
    finally:
        versioning.workflow = workflow


async def _follow(
    handle: WorkflowHandle[Any, Any], case: dict[str, Any], holder: WorkflowHandle[Any, Any] | None
) -> None:
    """Drive the run as the case says (answers, signals, cancel, pause), until it ends."""
    name = handle.id.removeprefix("replay-")
    if holder is not None:
        await _wait_status(handle, "QUEUED")
        if case.get("forge"):
            await handle.signal(SIGNAL_LIMIT, LimitSignal("per_host", "db-1"))
            await asyncio.sleep(1.0)
        hold = SignalPayload(payload={"ok": True}, task="hold")
        await holder.signal(SIGNAL_DELIVER, hold)
        await holder.result()
        await _waiting_execution(handle, "hold")
        await handle.signal(SIGNAL_DELIVER, hold)
    if "early_signal" in case:
        task, payload = case["early_signal"]
        await handle.signal(SIGNAL_DELIVER, SignalPayload(payload=payload, task=task))
        await asyncio.sleep(1.0)
    for task, payload in case.get("answers", []):
        answer = SignalPayload(payload=payload, task=task, execution=None)
        if task == "approve":
            answer.execution = await _waiting_execution(handle, task)
        try:
            await handle.execute_update(UPDATE_ANSWER, answer)
        except WorkflowUpdateFailedError as refused:
            print(name, "refused:", refused.cause)
    if "signal" in case:
        await asyncio.sleep(1.0)
        task, payload = case["signal"]
        await handle.signal(SIGNAL_DELIVER, SignalPayload(payload=payload, task=task))
    if "cancel_after" in case:
        await asyncio.sleep(case["cancel_after"])
        await handle.cancel()
    if "pause" in case:
        before, paused = case["pause"]
        await asyncio.sleep(before)
        await handle.signal(SIGNAL_PAUSE)
        await asyncio.sleep(paused)
        await handle.signal(SIGNAL_RESUME)
    try:
        print(name, await handle.result())
    except WorkflowFailureError as ended:  # cancelled, failed, timed out
        print(name, "ended:", ended.cause)


if __name__ == "__main__":
    unknown = sorted(set(sys.argv[1:]) - set(CASES))
    if unknown:
        sys.exit(f"no such case: {', '.join(unknown)} (cases: {', '.join(CASES)})")
    asyncio.run(record(sys.argv[1:]))
