"""Per-call costs behind two fixes, outside Temporal (no server needed):

1. payload conversion of an `ActionRequest` (with and without a 202-event trace batch):
   Temporal's default JSON converter vs Segue's msgspec one, encode and decode;
2. creating an `httpx.AsyncClient` as `http.request` does per call: with its own SSL
   context (the CA bundle loaded again) vs the shared one.

    python benchmarks/payloads.py          # about 10 s
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from temporalio.converter import DataConverter

from engine.actions.builtin.http import _ssl_context
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.types import ActionRequest, TraceBatch, TraceRecord


def per_call_us(call: Callable[[], Any], number: int) -> float:
    """Best of five batches, microseconds per call."""
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(number):
            call()
        best = min(best, (time.perf_counter() - began) / number)
    return best * 1e6


def requests() -> dict[str, ActionRequest]:
    events = [
        TraceRecord(i, "STARTED", "info", 1_700_000_000_000 + i, f"b{i}", f"b{i} started",
                    data={"execution": i, "iteration": 1, "route": 1, "attempt": 1})
        for i in range(1, 203)
    ]  # fmt: skip
    plain = ActionRequest("run-1", "bench_fan_out", "b17", 1, 1, 1, 19, "bench.step", {"i": 17})
    carrying = ActionRequest(
        "run-1", "bench_fan_out", "b0", 1, 1, 1, 2, "bench.step", {"i": 0},
        trace=TraceBatch("run-1", "bench_fan_out", events),
    )  # fmt: skip
    return {"ActionRequest": plain, "ActionRequest + 202 trace events": carrying}


def _encode(converter: Any, value: Any) -> Callable[[], Any]:
    return lambda: converter.to_payloads([value])


def _decode(converter: Any, payloads: Any) -> Callable[[], Any]:
    return lambda: converter.from_payloads(payloads, [ActionRequest])


def main() -> None:
    default, fast = DataConverter.default.payload_converter, DATA_CONVERTER.payload_converter
    print(f"{'payload':36} {'step':7} {'default µs':>11} {'Segue µs':>9} {'x faster':>9}")
    for name, value in requests().items():
        payloads = default.to_payloads([value])
        for step, slow, quick in (
            ("encode", _encode(default, value), _encode(fast, value)),
            ("decode", _decode(default, payloads), _decode(fast, payloads)),
        ):
            slow_us, fast_us = per_call_us(slow, 200), per_call_us(quick, 200)
            print(f"{name:36} {step:7} {slow_us:>11.1f} {fast_us:>9.1f} {slow_us / fast_us:>9.0f}")
    print()
    own = per_call_us(lambda: httpx.AsyncClient(timeout=30), 20)
    shared = per_call_us(lambda: httpx.AsyncClient(timeout=30, verify=_ssl_context()), 20)
    print(f"httpx.AsyncClient(), own SSL context      {own / 1000:8.2f} ms")
    print(f"httpx.AsyncClient(verify=shared context)  {shared / 1000:8.2f} ms")


if __name__ == "__main__":
    main()
