"""A run's workflow is compiled before its first workflow task, outside the 2 s the SDK
gives an activation (engine/temporal/spec_warmer.py): by the worker's payload codec, in
a thread of its own, while the activation's payloads are decoded. Without the warming
codec the same compile runs in the workflow's own thread (the control)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.language.loader import load_workflow
from engine.temporal import compiled, spec_warmer
from engine.temporal.activities import SegueActivities
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.spec_warmer import WARM_FROM_BYTES, SpecWarmingCodec, with_spec_warming
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, start_interpreter

pytestmark = pytest.mark.temporal

WORKFLOW_THREAD = "temporal_workflow_"


def large_workflow(tasks: int) -> str:
    """`tasks` echo tasks with an expression each; only the first runs."""
    lines = ["version: 1", "start: [t0]", "tasks:"]
    for task in range(tasks):
        lines += [f"  t{task}:", "    action: core.echo", f"    input: {{v: <% {task} + 1 %>}}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("warming", "compiled_in_workflow_thread"), [(True, 0), (False, 1)])
def test_the_workflow_is_compiled_before_its_first_workflow_task(
    temporal_address: str,
    background_loop: BackgroundLoop,
    monkeypatch: pytest.MonkeyPatch,
    warming: bool,
    compiled_in_workflow_thread: int,
) -> None:
    text = large_workflow(400)
    assert len(text.encode()) > WARM_FROM_BYTES
    threads: list[str] = []
    load = load_workflow

    def recording_load(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return load(*args, **kwargs)

    monkeypatch.setattr(compiled, "load_workflow", recording_load)

    async def scenario() -> str:
        converter = with_spec_warming(DATA_CONVERTER) if warming else DATA_CONVERTER
        client = await connect(temporal_address, data_converter=converter)
        queue = f"warming-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(ActionCatalog(builtin_actions()))
        async with build_worker(client, activities, task_queue=queue):
            # A name of its own: the process's cache has never seen this version.
            handle = await start_interpreter(client, queue, text, name=f"w{uuid.uuid4().hex}")
            return (await handle.result()).status

    assert background_loop.run(scenario(), timeout=120) == "succeeded"
    assert len(threads) == 1, threads  # compiled once
    in_workflow = sum(name.startswith(WORKFLOW_THREAD) for name in threads)
    assert in_workflow == compiled_in_workflow_thread, threads


# ------------------------------------------------------------------ payloads it must not touch
# Whatever reaches the worker's outermost codec, the warmer hands the payload on as it
# came and compiles only a well-formed start input; anything else is left to the
# workflow. Each case is larger than WARM_FROM_BYTES and carries the start input's keys,
# so none is turned away by the cheap checks before the parse.

PADDING = "#" + "x" * WARM_FROM_BYTES + "\n"
BROKEN_YAML = "version: 1\ntasks: {hello: [unclosed\n" + PADDING


def start_input(**fields: Any) -> dict[str, Any]:
    base = {"run_id": "r1", "workflow": f"w{uuid.uuid4().hex}", "version": "1"}
    return {**base, "yaml": large_workflow(400), "input": {}, **fields}


def json_payload(document: Any, encoding: bytes = b"json/plain") -> Payload:
    return Payload(metadata={"encoding": encoding}, data=json.dumps(document).encode())


def hostile_payloads() -> dict[str, Payload]:
    valid = json.dumps(start_input()).encode()
    return {
        "malformed JSON": Payload(metadata={"encoding": b"json/plain"}, data=valid[:-2]),
        "not UTF-8": Payload(metadata={"encoding": b"json/plain"}, data=valid[:-2] + b'\xff\xfe"}'),
        "wrong types": json_payload(
            start_input(workflow=5, version=["1"], yaml={"a": 1}, input={"pad": PADDING})
        ),
        "yaml not text": json_payload(start_input(yaml=[large_workflow(400)])),
        "keys only inside a value": json_payload(
            {"note": '"run_id": "yaml": "workflow":' + PADDING}
        ),
        "binary/plain": json_payload(start_input(), b"binary/plain"),
        "json/protobuf": json_payload(start_input(), b"json/protobuf"),
        "binary/encrypted": json_payload(start_input(), b"binary/encrypted"),
        "no encoding": Payload(data=valid),
        "does not compile": json_payload(start_input(yaml=BROKEN_YAML)),
    }


@pytest.mark.parametrize("case", sorted(hostile_payloads()))
def test_a_payload_it_cannot_use_is_handed_on_untouched_and_compiles_nothing(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = hostile_payloads()[case]
    assert len(payload.data) > WARM_FROM_BYTES
    sent = payload.SerializeToString()
    loads: list[str] = []
    load = load_workflow

    def recording_load(*args: Any, **kwargs: Any) -> Any:
        loads.append(str(args[1]))
        return load(*args, **kwargs)

    monkeypatch.setattr(compiled, "load_workflow", recording_load)
    (decoded,) = asyncio.run(SpecWarmingCodec(None).decode([payload]))
    assert decoded.SerializeToString() == sent
    # Only the well-formed input with a broken workflow gets as far as the compiler,
    # which refuses it: nothing is cached, and the workflow will compile (and fail) itself.
    assert len(loads) == (case == "does not compile"), loads
    if case == "does not compile":
        document = json.loads(payload.data)
        assert not compiled.is_compiled(document["workflow"], "1", BROKEN_YAML)


def test_a_huge_valid_start_input_is_warmed_and_handed_on_untouched() -> None:
    """A start input of 4 MiB (its run input: the payload limit Temporal enforces is
    smaller, but a claim-checked input is resolved before this codec sees it)."""
    document = start_input(input={"blob": "y" * (4 * 1024 * 1024)})
    payload = json_payload(document)
    sent = payload.SerializeToString()
    began = time.perf_counter()
    (decoded,) = asyncio.run(SpecWarmingCodec(None).decode([payload]))
    print(
        f"decoded and warmed a {len(payload.data):,}-byte start input in "
        f"{(time.perf_counter() - began) * 1000:.0f} ms"
    )
    assert decoded.SerializeToString() == sent
    assert compiled.is_compiled(document["workflow"], "1", document["yaml"])


def test_a_workflow_that_does_not_compile_fails_the_run_alike_with_and_without_warming(
    temporal_address: str, background_loop: BackgroundLoop
) -> None:
    async def failure(warming: bool) -> tuple[str | None, str, list[Any]]:
        converter = with_spec_warming(DATA_CONVERTER) if warming else DATA_CONVERTER
        client = await connect(temporal_address, data_converter=converter)
        queue = f"warming-bad-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(ActionCatalog(builtin_actions()))
        async with build_worker(client, activities, task_queue=queue):
            handle = await start_interpreter(client, queue, BROKEN_YAML, name="broken")
            with pytest.raises(WorkflowFailureError) as caught:
                await handle.result()
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError)
        return cause.type, cause.message, list(cause.details)

    warmed = background_loop.run(failure(True), timeout=120)
    assert warmed[0] == "WorkflowInvalid"
    assert warmed == background_loop.run(failure(False), timeout=120)


def test_a_store_that_hangs_costs_the_read_bound_then_the_yaml_is_compiled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The compiled form's read is bounded: a store that never answers holds the
    activation for `FORM_READ_SECONDS`, not for the pool's own timeout, and the
    workflow is compiled from its YAML instead."""
    monkeypatch.setattr(spec_warmer, "FORM_READ_SECONDS", 0.3)
    asked: list[tuple[str, int]] = []

    async def hanging(workflow: str, version: int) -> Any:
        asked.append((workflow, version))
        await asyncio.sleep(3600)

    document = start_input()
    began = time.perf_counter()
    asyncio.run(SpecWarmingCodec(None, hanging).decode([json_payload(document)]))
    assert time.perf_counter() - began < 30  # the bound, then one compile; not an hour
    assert asked == [(document["workflow"], 1)]
    assert compiled.is_compiled(document["workflow"], "1", document["yaml"])
