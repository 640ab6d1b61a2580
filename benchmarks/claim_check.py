"""What a 300 KB action result costs by value (inline in Temporal's history) and by
reference (claim-check: a blob in PostgreSQL, engine/temporal/claim_check.py).

Two parts, both against real services (a Temporal dev server started here, PostgreSQL on
127.0.0.1 or SEGUE_DATABASE_URL):

1. The codec alone, per 300 KB payload: encoding by value (nothing to do), by reference
   (hash + INSERT; again once the blob is known), decoding by reference from the store (a
   codec with nothing cached, as a restarted worker) and from the LRU cache; each with
   and without encryption.
2. End to end: runs of a one-task workflow whose action returns 300 KB and publishes
   its length, on a worker with the plain converter and one with the claim-check; the
   median run time (start to result) and the history's size.

    python benchmarks/claim_check.py    # about a minute
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from benchmarks.bench_support import benchmark_database
from engine.actions.api import ActionContext, ActionDefinition
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.store import open_pool
from engine.store._db import StorePool
from engine.store.claims import PostgresClaims
from engine.temporal.activities import SegueActivities
from engine.temporal.claim_check import ClaimCheckCodec, ClaimSettings
from engine.temporal.codec import CodecKeys, EncryptionCodec, data_converter
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.devserver import start_dev_server
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import start_recorded

SIZE = 300_000
KEYS = CodecKeys.parse(f"b:{base64.b64encode(b'k' * 32).decode()}")
WORKFLOW = f"""
version: 1
tasks:
  big:
    action: bench.blob
    input: {{bytes: {SIZE}}}
    next:
      - publish: {{size: <% $length($result) %>}}
output: {{size: <% $ctx.size %>}}
"""


async def _blob(data: Any, context: ActionContext) -> str:
    return uuid.uuid4().hex + "x" * (int(data["bytes"]) - 32)  # a new value each run


def _payload() -> Payload:
    value = uuid.uuid4().hex + "x" * (SIZE - 32)
    return DATA_CONVERTER.payload_converter.to_payloads([value])[0]


async def _timed(work: Callable[[], Any], repeats: int) -> float:
    """The median of `repeats` timings of `await work()`, in milliseconds."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        await work()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def codec_costs(pool: StorePool, repeats: int) -> list[tuple[str, float]]:
    rows = []
    for label, keys in (("plain", None), ("encrypted", KEYS)):
        inner = EncryptionCodec(keys) if keys else None
        rows += [(f"{label}: {case}", ms) for case, ms in await _costs(pool, inner, repeats)]
    return rows


async def _costs(
    pool: StorePool, inner: EncryptionCodec | None, repeats: int
) -> list[tuple[str, float]]:
    async def by_value() -> None:
        if inner is not None:
            inner.open(inner.seal(_payload()))

    codec = ClaimCheckCodec(PostgresClaims(pool), inner=inner)
    payloads = [_payload() for _ in range(repeats)]
    references: list[Payload] = []

    async def encode() -> None:
        references.extend(await codec.encode([payloads[len(references)]]))

    fresh = ClaimCheckCodec(PostgresClaims(pool), inner=inner)
    index = iter(range(repeats))

    async def decode_store() -> None:
        await fresh.decode([references[next(index)]])

    return [
        ("by value, seal + open (no store)", await _timed(by_value, repeats)),
        ("by reference, encode (hash + INSERT)", await _timed(encode, repeats)),
        (
            "by reference, encode a known blob",
            await _timed(lambda: codec.encode(payloads[:1]), repeats),
        ),
        ("by reference, decode from the store", await _timed(decode_store, repeats)),
        (
            "by reference, decode from the cache",
            await _timed(lambda: fresh.decode(references[:1]), repeats),
        ),
    ]


async def end_to_end(
    address: str, pool: StorePool, name: str, converter: DataConverter, runs: int
) -> tuple[float, float, int]:
    client = await connect(address, data_converter=converter)
    raw = await connect(address, data_converter=DATA_CONVERTER)
    catalog = ActionCatalog([*builtin_actions(), ActionDefinition("bench.blob", _blob)])
    activities = SegueActivities(catalog, max_result_bytes=ClaimSettings().max_result)
    queue = f"bench-claim-{uuid.uuid4().hex[:8]}"
    times = []
    sizes = []
    async with build_worker(client, activities, task_queue=queue):
        for _ in range(runs + 1):  # the first warms the worker up and is not counted
            began = time.perf_counter()
            handle = await start_recorded(client, pool, queue, name, WORKFLOW)
            outcome = await handle.result()
            times.append((time.perf_counter() - began) * 1000)
            assert outcome.output == {"size": SIZE}, outcome
            history = await raw.get_workflow_handle(handle.id).fetch_history()
            sizes.append(sum(event.ByteSize() for event in history.events))
    return statistics.median(times[1:]), min(times[1:]), statistics.median(sizes)


async def main(args: argparse.Namespace) -> None:
    cleanups: list[Callable[[], None]] = []
    url = benchmark_database(cleanups, print)
    directory = Path(tempfile.mkdtemp(prefix="bench-claim-"))
    server = start_dev_server(db_file=directory / "t.db", log_path=directory / "server.log")
    pool = await open_pool(url)
    try:
        print(f"\ncodec, one {SIZE:,}-byte JSON string payload, median of {args.repeats}:")
        for label, ms in await codec_costs(pool, args.repeats):
            print(f"  {label:<50} {ms:8.2f} ms")
        print(f"\nend to end, a one-task run returning {SIZE:,} bytes, {args.runs} runs:")
        print(f"  {'converter':<26} {'median run':>11} {'fastest':>9} {'history bytes':>14}")
        cases = [
            ("by value", DATA_CONVERTER),
            ("by reference", data_converter(None, PostgresClaims(pool), ClaimSettings())),
            ("by value, encrypted", data_converter(KEYS)),
            (
                "by reference, encrypted",
                data_converter(KEYS, PostgresClaims(pool), ClaimSettings()),
            ),
        ]
        for label, converter in cases:
            median, fastest, size = await end_to_end(
                server.address, pool, "bench-claim", converter, args.runs
            )
            print(f"  {label:<26} {median:9.1f} ms {fastest:7.1f} ms {size:>14,.0f}")
    finally:
        await pool.close()
        server.stop()
        for cleanup in cleanups:
            cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20, help="codec timings per case")
    parser.add_argument("--runs", type=int, default=15, help="end-to-end runs per case")
    asyncio.run(main(parser.parse_args()))
