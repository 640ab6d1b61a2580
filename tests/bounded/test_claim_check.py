"""Issue 14: a result larger than the claim-check threshold travels by reference. Temporal's
history (read raw, by a client without the codec) holds a small reference; the blob is in
PostgreSQL, stored once, ciphertext when codec keys are set; the run and its expressions
see the full value, also after a worker restart that replays the history through a codec
with nothing cached; a result over the cap fails with `payload_too_large`; a forged
reference fails precisely. All on the real Temporal dev server and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from engine.actions.api import ActionContext, ActionDefinition
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.store import get_run, open_pool
from engine.store._db import StorePool
from engine.store.claims import PostgresClaims
from engine.temporal.activities import SegueActivities
from engine.temporal.claim_check import (
    ENCODING,
    SHA256,
    SIZE,
    ClaimCheckCodec,
    ClaimCheckError,
    ClaimSettings,
)
from engine.temporal.codec import CodecKeys, data_converter
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.interpreter import Interpreter
from engine.temporal.store_sink import trace_sink
from engine.temporal.worker import build_worker, connect, workflow_runner
from tests.support.temporal import BackgroundLoop, start_recorded, wait_for_event

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

KEYS = CodecKeys.parse(f"k1:{base64.b64encode(b'c' * 32).decode()}")
SETTINGS = ClaimSettings()  # 128 KiB threshold, 16 MiB results


async def _blob(data: Any, context: ActionContext) -> str:
    """`bytes` characters, starting with `seed` so that each test has blobs of its own."""
    seed = str(data["seed"])
    return seed + "x" * (int(data["bytes"]) - len(seed))


CATALOG = ActionCatalog([*builtin_actions(), ActionDefinition("test.blob", _blob)])


def big_result(seed: str, size: int = 300_000, then: str = "") -> str:
    return f"""
version: 1
tasks:
  big:
    action: test.blob
    input: {{bytes: {size}, seed: {seed}}}
    next:
      - publish:
          size: <% $length($result) %>
          head: <% $substring($result, 0, 12) %>
{then}
output: {{size: <% $ctx.size %>, head: <% $ctx.head %>}}
"""


PAUSE = "        do: pause\n  pause:\n    action: core.sleep\n    input: {seconds: 2}\n"


def converter(pool: StorePool, keys: CodecKeys | None = None) -> DataConverter:
    """A converter of its own: a codec with nothing cached, as a restarted worker's."""
    return data_converter(keys, PostgresClaims(pool), SETTINGS)


@asynccontextmanager
async def worker(
    address: str, pool: StorePool, queue: str, keys: CodecKeys | None = None
) -> AsyncIterator[Client]:
    client = await connect(address, data_converter=converter(pool, keys))
    activities = SegueActivities(
        CATALOG, trace_sink=trace_sink(pool), max_result_bytes=SETTINGS.max_result
    )
    async with build_worker(client, activities, task_queue=queue):
        yield client


async def blob_rows(pool: StorePool, digest: str) -> list[bytes]:
    async with pool.connection() as conn, conn.cursor() as cursor:
        await cursor.execute("SELECT content FROM claim_checks WHERE sha256 = %s", (digest,))
        return [bytes(row[0]) for row in await cursor.fetchall()]


def references(history: Any) -> list[Payload]:
    """The result payloads of the history's completed activities, as Temporal holds them."""
    return [
        payload
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        for payload in event.activity_task_completed_event_attributes.result.payloads
    ]


@pytest.fixture
def pool(postgres_url: str, background_loop: BackgroundLoop) -> Iterator[StorePool]:
    opened = background_loop.run(open_pool(postgres_url))
    try:
        yield opened
    finally:
        background_loop.run(opened.close())


@pytest.mark.parametrize("keys", [None, KEYS], ids=["plain", "encrypted"])
def test_a_300_kb_result_travels_by_reference_and_survives_a_worker_restart(
    temporal_address: str, pool: StorePool, background_loop: BackgroundLoop, keys: Any
) -> None:
    seed = uuid.uuid4().hex

    async def scenario() -> dict[str, Any]:
        queue = f"claim-{uuid.uuid4().hex[:8]}"
        async with worker(temporal_address, pool, queue, keys) as client:
            handle = await start_recorded(
                client, pool, queue, "claim", big_result(seed, then=PAUSE)
            )
            # The big result is in; the run waits on its timer. The worker goes away.
            await wait_for_event(handle, EventType.EVENT_TYPE_TIMER_STARTED)
        # A new worker with a codec that has nothing cached replays the history from the
        # start (the old worker's sticky cache is gone with it): it must fetch the blob.
        async with worker(temporal_address, pool, queue, keys) as client:
            outcome = await client.get_workflow_handle(handle.id).result()
            history = await client.get_workflow_handle(handle.id).fetch_history()
        raw = await connect(temporal_address, data_converter=DATA_CONVERTER)
        raw_history = await raw.get_workflow_handle(handle.id).fetch_history()
        replayer = Replayer(
            workflows=[Interpreter],
            workflow_runner=workflow_runner(),
            data_converter=converter(pool, keys),
        )
        replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        return {
            "outcome": outcome,
            "raw": raw_history,
            "replay_failure": replayed.replay_failure,
            "run": await get_run(pool, handle.id),
        }

    found = background_loop.run(scenario())
    assert found["outcome"]["status"] == "succeeded", found["outcome"]
    # `$result` in expressions saw the whole value.
    assert found["outcome"]["output"] == {"size": 300_000, "head": seed[:12]}
    assert found["replay_failure"] is None
    claimed = [p for p in references(found["raw"]) if p.metadata.get("encoding") == ENCODING]
    assert len(claimed) == 1
    reference = claimed[0]
    assert reference.ByteSize() < 200 and not reference.data
    digest = reference.metadata[SHA256].decode()
    size = int(reference.metadata[SIZE])
    # Stored once, though the result was encoded by one worker and decoded by two.
    stored = background_loop.run(blob_rows(pool, digest))
    assert len(stored) == 1 and len(stored[0]) == size > 300_000
    assert hashlib.sha256(stored[0]).hexdigest() == digest
    # With keys, the blob at rest is ciphertext; without, the plain JSON.
    assert (seed.encode() in stored[0]) is (keys is None)
    # Temporal holds nothing of the value itself (the seed is in the workflow text).
    everything = b"".join(event.SerializeToString() for event in found["raw"].events)
    assert b"x" * 1000 not in everything and len(everything) < 100_000


def test_the_same_result_is_stored_once(
    temporal_address: str, pool: StorePool, background_loop: BackgroundLoop
) -> None:
    """Three items return the same 300 KB value (sealed with a synthetic nonce, so equal
    answers are the same ciphertext): answers equal byte for byte share one blob, and
    different ones do not. Encoding a payload again, as a retried or replayed task does,
    gives the same reference."""
    seed = uuid.uuid4().hex
    text = big_result(seed).replace(
        "    action: test.blob", "    with: {items: [1, 2, 3]}\n    action: test.blob"
    )
    text = text.replace("$length($result)", "$length($result[0])").replace(
        "$substring($result,", "$substring($result[0],"
    )

    async def scenario() -> tuple[Any, list[str], list[bytes], list[str]]:
        queue = f"claim-{uuid.uuid4().hex[:8]}"
        async with worker(temporal_address, pool, queue, KEYS) as client:
            handle = await start_recorded(client, pool, queue, "claim-items", text)
            outcome = await handle.result()
        raw = await connect(temporal_address, data_converter=DATA_CONVERTER)
        history = await raw.get_workflow_handle(handle.id).fetch_history()
        claimed = references(history)
        codec = converter(pool, KEYS).payload_codec
        assert codec is not None
        answers = [p.data for p in await codec.decode(claimed)]
        # Another codec (another worker) encoding the same payload: the same reference.
        payload = Payload(metadata={"encoding": b"json/plain"}, data=b'"' + b"y" * 200_000 + b'"')
        again = [(await codec.encode([payload]))[0] for _ in range(2)]
        digests = [p.metadata[SHA256].decode() for p in claimed]
        return outcome, digests, answers, [p.metadata[SHA256].decode() for p in again]

    outcome, digests, answers, again = background_loop.run(scenario())
    assert outcome.status == "succeeded" and outcome.output["size"] == 300_000
    # An item's answer also carries its own timings (`queuedMs`, `ranMs`) and whether it
    # carried the run's trace batch, so the three answers may or may not be equal: the
    # blob follows the bytes, whichever way they came out.
    assert len(digests) == 3
    for i in range(3):
        for j in range(3):
            assert (digests[i] == digests[j]) is (answers[i] == answers[j])
    assert len(set(again)) == 1
    for digest in {*digests, again[0]}:
        assert len(background_loop.run(blob_rows(pool, digest))) == 1


def test_a_20_mib_result_fails_with_payload_too_large(
    temporal_address: str, pool: StorePool, background_loop: BackgroundLoop
) -> None:
    async def scenario() -> Any:
        queue = f"claim-{uuid.uuid4().hex[:8]}"
        async with worker(temporal_address, pool, queue) as client:
            handle = await start_recorded(
                client, pool, queue, "claim-huge", big_result("huge", size=20 * 1024 * 1024)
            )
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(handle.result(), 90)
        await asyncio.sleep(0.5)  # the last trace batch
        return await get_run(pool, handle.id)

    run = background_loop.run(scenario(), timeout=150)
    assert run is not None and run.status == "FAILED"
    errors = run.errors or []
    # (The output's `$ctx.size`, never published, then fails too.)
    assert errors[0]["type"] == "payload_too_large" and errors[0]["task"] == "big", errors
    assert "more than the 16,777,216 a result may have" in str(errors)


def _reference(digest: str, size: str = "10", data: bytes = b"") -> Payload:
    return Payload(
        metadata={"encoding": ENCODING, SHA256: digest.encode(), SIZE: size.encode()}, data=data
    )


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        pytest.param(_reference("0" * 64), "is not in the store", id="unknown-hash"),
        pytest.param(_reference("A" * 64), "malformed", id="uppercase-hash"),
        pytest.param(_reference("ab" * 16), "malformed", id="short-hash"),
        pytest.param(_reference("0" * 64, size="-1"), "malformed", id="negative-size"),
        pytest.param(_reference("0" * 64, size="1e3"), "malformed", id="size-not-digits"),
        pytest.param(_reference("0" * 64, data=b"x"), "malformed", id="data-inline"),
        pytest.param(
            _reference("0" * 64, size="99999999999"), "malformed", id="size-over-ten-digits"
        ),
        pytest.param(_reference("0" * 64, size="999999999"), "more than the", id="size-huge"),
        pytest.param(Payload(metadata={"encoding": ENCODING}), "malformed", id="no-metadata"),
    ],
)
def test_a_forged_reference_fails_precisely(
    pool: StorePool, background_loop: BackgroundLoop, reference: Payload, message: str
) -> None:
    codec = ClaimCheckCodec(PostgresClaims(pool))

    async def decode() -> None:
        await codec.decode([reference])

    with pytest.raises(ClaimCheckError, match=message):
        background_loop.run(decode())


def test_a_blob_that_does_not_match_its_reference_never_decodes(
    pool: StorePool, background_loop: BackgroundLoop
) -> None:
    """Stored bytes that were altered (or a reference naming another size) are refused; a
    codec with nothing cached reads the store, so the hash is checked there."""
    payload = Payload(metadata={"encoding": b"json/plain"}, data=uuid.uuid4().hex.encode() * 9000)

    async def scenario() -> list[str]:
        (reference,) = await ClaimCheckCodec(PostgresClaims(pool)).encode([payload])
        digest = reference.metadata[SHA256].decode()
        fresh = ClaimCheckCodec(PostgresClaims(pool))
        assert await fresh.decode([reference]) == [payload]
        problems = []
        wrong_size = _reference(digest, size=str(int(reference.metadata[SIZE]) + 1))
        for attempt in (wrong_size,):
            try:
                await fresh.decode([attempt])
            except ClaimCheckError as error:
                problems.append(str(error))
        async with pool.connection() as conn:
            await conn.execute(
                "UPDATE claim_checks SET content = overlay(content placing 'Z' from 100) "
                "WHERE sha256 = %s",
                (digest,),
            )
        try:
            await ClaimCheckCodec(PostgresClaims(pool)).decode([reference])
        except ClaimCheckError as error:
            problems.append(str(error))
        return problems

    problems = background_loop.run(scenario())
    assert len(problems) == 2
    assert "the reference says" in problems[0]
    assert "does not match its hash" in problems[1]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SEGUE_CLAIM_CHECK_BYTES": "12"}, "at least 1024"),
        ({"SEGUE_CLAIM_CHECK_BYTES": "4194304"}, "SEGUE_CLAIM_CHECK_BYTES: a whole number"),
        ({"SEGUE_MAX_RESULT_BYTES": "1e9"}, "SEGUE_MAX_RESULT_BYTES: a whole number"),
        ({"SEGUE_MAX_RESULT_BYTES": str(128 * 1024 * 1024)}, "to 67,108,864"),
    ],
)
def test_settings_out_of_bounds_are_refused(environ: dict[str, str], message: str) -> None:
    from engine.temporal.codec import CodecConfigError

    with pytest.raises(CodecConfigError, match=message):
        ClaimSettings.from_env(environ)
    assert ClaimSettings.from_env({"SEGUE_CLAIM_CHECK_BYTES": "0"}).threshold == 0
