"""Compiling a run's workflow before its workflow task, not inside it.

The Temporal SDK gives a workflow activation 2 s to yield (TMPRL1101, "potential
deadlock") and runs it in a thread of its own; the run's first activation compiles the
workflow's YAML (engine/temporal/compiled.py), which for the largest workflows
registration accepts takes a good part of a second of CPU, and several seconds on a
loaded machine. Before an activation runs, the worker decodes its payloads with the
data converter's payload codec, asynchronously and outside that 2 s. This codec, the
worker's outermost, looks at each decoded payload for a run's start input (the
interpreter's `InterpreterInput`: a JSON object with `run_id`, `workflow`, `version`
and `yaml`) and compiles its workflow in a thread into the same
per-process cache the workflow reads, so the activation finds it compiled.

It decides nothing: a payload it cannot read, or a workflow that does not compile, is
left to the workflow, which compiles (and fails) as it always did; payloads pass
through unchanged. A cold replay on another worker warms the same way, since replayed
activations are decoded too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Sequence
from typing import Final

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from engine.temporal.compiled import is_compiled, spec_of

log = logging.getLogger("segue.worker")

# Markers of a start input in its JSON (keys are written sorted): a byte search, cheap
# beside the decoding that precedes it.
START_INPUT_KEYS: Final = (b'"run_id":', b'"yaml":', b'"workflow":')
JSON_PLAIN: Final = b"json/plain"
# Below this the compile is short whatever the load: not worth a thread hop.
WARM_FROM_BYTES: Final = 16 * 1024


class SpecWarmingCodec(PayloadCodec):
    """A payload codec that compiles the workflow of each start input it decodes."""

    def __init__(self, inner: PayloadCodec | None) -> None:
        self.inner = inner

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads) if self.inner is None else await self.inner.encode(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = list(payloads) if self.inner is None else await self.inner.decode(payloads)
        for payload in decoded:
            if _is_large_start_input(payload):
                await asyncio.to_thread(_warm, payload.data)
        return decoded


def with_spec_warming(converter: DataConverter) -> DataConverter:
    """`converter` with the warming codec outermost (it sees decrypted, resolved data)."""
    return dataclasses.replace(converter, payload_codec=SpecWarmingCodec(converter.payload_codec))


def _is_large_start_input(payload: Payload) -> bool:
    return (
        payload.metadata.get("encoding") == JSON_PLAIN
        and len(payload.data) >= WARM_FROM_BYTES
        and payload.data.startswith(b"{")
        and all(key in payload.data for key in START_INPUT_KEYS)
    )


def _warm(data: bytes) -> None:
    try:
        document = json.loads(data)
        workflow, version, text = document["workflow"], document["version"], document["yaml"]
        if not all(isinstance(value, str) for value in (workflow, version, text)):
            return
        if not is_compiled(workflow, version, text):
            spec_of(workflow, version, text)
    except Exception as error:  # the workflow compiles again and reports it
        log.debug("could not compile a start input ahead of its run: %s", error)
