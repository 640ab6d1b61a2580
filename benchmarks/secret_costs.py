"""What secrets cost: sealing and opening payloads with the codec, and masking a full
trace batch (500 events) with a run's secrets.

    python benchmarks/secret_costs.py
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.api.common.v1 import Payload

from engine.masking import Masker
from engine.temporal.codec import CodecKeys, EncryptionCodec


def _per_call(fn: object, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - start) / count


def main() -> None:
    codec = EncryptionCodec(CodecKeys.parse(f"k1:{base64.b64encode(b'k' * 32).decode()}"))
    for size in (200, 20_000, 1_000_000):
        payload = Payload(metadata={"encoding": b"json/plain"}, data=b"x" * size)
        sealed = asyncio.run(codec.encode([payload]))[0]
        seal = _per_call(
            lambda payload=payload: codec.seal(payload), 2000 if size < 100_000 else 50
        )
        opened = _per_call(lambda sealed=sealed: codec.open(sealed), 2000 if size < 100_000 else 50)
        print(f"codec {size:>9,} bytes: seal {seal * 1e6:8.1f} µs, open {opened * 1e6:8.1f} µs")
    events = [
        {
            "message": f"task{i} succeeded",
            "output": {"header": "Bearer sk-live-123456", "n": i, "text": "lorem ipsum " * 10},
            "data": {"execution": i, "iteration": 1, "route": 0, "attempt": 1},
        }
        for i in range(500)
    ]
    for count in (1, 10, 100):
        masker = Masker([f"secret-value-{i:04d}" for i in range(count - 1)] + ["sk-live-123456"])
        took = _per_call(lambda masker=masker: [masker.value(event) for event in events], 20)
        print(f"mask a 500-event batch with {count:>3} secrets: {took * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
