"""Record Temporal histories of example runs for the replay test.

    python tests/temporal/histories/record.py [CASE ...]

Runs each case below (or those named) on a fresh dev server through a real worker and
writes `<case>.json` (the full event history) beside this file. Re-record only when the
interpreter changes on purpose; the replay test exists to catch accidental changes that
would break runs already in flight (Temporal replays their histories on new code).

Histories of an older release stay in the corpus under their own name: they are the
runs in flight that an upgrade must not disturb. `joins-behaviour-1.json` was recorded
by the coordinator of commit ccf14fb (the last with behaviour 1, engine/coordinator/
behaviour.py): `git worktree add /tmp/old ccf14fb`, copy this file and joins.yaml there,
run `python tests/temporal/histories/record.py joins` in it, rename the output.

The `limits` case needs PostgreSQL (the limiter's store): a database is made for it on
`SEGUE_TEST_DATABASE_URL` (default: the local server the tests use) and dropped after.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError  # noqa: E402

from engine.actions.catalog import ActionCatalog  # noqa: E402
from engine.store import open_pool  # noqa: E402
from engine.temporal.activities import SegueActivities, directory_lookup  # noqa: E402
from engine.temporal.devserver import start_dev_server  # noqa: E402
from engine.temporal.types import (  # noqa: E402
    INTERPRETER_WORKFLOW,
    QUERY_PROGRESS,
    SIGNAL_DELIVER,
    UPDATE_ANSWER,
    InterpreterInput,
    SignalPayload,
)
from engine.temporal.worker import build_worker, connect  # noqa: E402
from tests.support.postgres import (  # noqa: E402
    LOCAL_SERVER_URL,
    TEST_URL_VARIABLE,
    temporary_database,
)

HERE = Path(__file__).parent
WORKFLOWS = HERE.parent / "workflows"


class _Health(BaseHTTPRequestHandler):
    """Answers 503 twice, then 200."""

    calls = 0

    def do_GET(self) -> None:
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
    "monitoring": {"file": ROOT / "examples" / "monitoring.yaml", "input": {"interval": 1}},
    "features": {
        "file": HERE / "features.yaml",
        "input": {},
        "signal": ("approve", {"approved": True, "by": "ada"}),
    },
    "joins": {"file": HERE / "joins.yaml", "input": {}},
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
    # Behaviour 3: a run queued for a concurrency limit behind a holder of its key, woken
    # by the holder's release signal; it then runs and releases itself.
    "limits": {"file": HERE / "limits.yaml", "input": {}, "behind": "replay-limits-holder"},
}


async def _waiting_execution(handle: WorkflowHandle[Any, Any], task: str) -> int | None:
    """The execution of the task's wait (kept after it is answered, as the API pins)."""
    for _ in range(50):
        progress = await handle.query(QUERY_PROGRESS)
        for wait in progress["waiting"]:
            if wait["task"] == task:
                _PINNED[task] = int(wait["execution"])
        if task in _PINNED:
            return _PINNED[task]
        await asyncio.sleep(0.1)
    return None


_PINNED: dict[str, int] = {}


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
    server_url = os.environ.get(TEST_URL_VARIABLE, LOCAL_SERVER_URL)
    with temporary_database(server_url) as database:
        await _record(names, database)


async def _record(names: list[str], database: str) -> None:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    server = start_dev_server()
    pool = await open_pool(database)
    try:
        client = await connect(server.address)
        queue = f"record-{uuid.uuid4().hex[:6]}"
        activities = SegueActivities(
            ActionCatalog.builtin(), workflow_lookup=directory_lookup(WORKFLOWS), limit_store=pool
        )
        async with build_worker(client, activities, task_queue=queue):
            for name, case in CASES.items():
                if names and name not in names:
                    continue
                text = Path(case["file"]).read_text()
                run_input = dict(case["input"])
                if name == "monitoring":
                    run_input["url"] = f"http://127.0.0.1:{http.server_port}/health"
                run_id = f"replay-{name}"
                holder = None
                if "behind" in case:
                    first = InterpreterInput(
                        case["behind"], name, "1", text, run_input, queue, trace=False
                    )
                    holder = await client.start_workflow(
                        INTERPRETER_WORKFLOW, first, id=case["behind"], task_queue=queue
                    )
                    await _wait_status(holder, "RUNNING")
                params = InterpreterInput(run_id, name, "1", text, run_input, queue, trace=False)
                handle = await client.start_workflow(
                    INTERPRETER_WORKFLOW, params, id=run_id, task_queue=queue
                )
                if holder is not None:
                    await _wait_status(handle, "QUEUED")
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
                print(name, await handle.result())
                history = await handle.fetch_history()
                (HERE / f"{name}.json").write_text(history.to_json())
    finally:
        await pool.close()
        server.stop()
        http.shutdown()


if __name__ == "__main__":
    unknown = sorted(set(sys.argv[1:]) - set(CASES))
    if unknown:
        sys.exit(f"no such case: {', '.join(unknown)} (cases: {', '.join(CASES)})")
    asyncio.run(record(sys.argv[1:]))
