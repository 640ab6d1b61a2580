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

With the store (a worker with a database), it first reads the compact form registration
stored for (workflow, version) (engine/language/compact.py): decoding it takes well under
half of compiling the YAML (docs/performance.md). The form is used only when it is this
YAML's (the content hashes agree, in the row, in the form and of the text itself) and
this release's compiler made it (its fingerprint); otherwise, or when the store cannot
be read, the YAML is compiled as before. The workflow still compiles on a cache miss
(`compiled_spec`); the cache only ever holds what compiling that YAML gives, so
replay and decisions are unchanged, and workflow code does no I/O.

It decides nothing: a payload it cannot read, or a workflow that does not compile, is
left to the workflow, which compiles (and fails) as it always did; payloads pass
through unchanged. A cold replay on another worker warms the same way, since replayed
activations are decoded too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from engine.language.compact import decode_spec
from engine.store.workflows import CompiledForm
from engine.temporal.compiled import is_compiled, keep_decoded, spec_of

log = logging.getLogger("segue.worker")

# Markers of a start input in its JSON (keys are written sorted): a byte search, cheap
# beside the decoding that precedes it.
START_INPUT_KEYS: Final = (b'"run_id":', b'"yaml":', b'"workflow":')
JSON_PLAIN: Final = b"json/plain"
# Below this the compile is short whatever the load: not worth a thread hop.
WARM_FROM_BYTES: Final = 16 * 1024
# A store version number (a workflows directory's versions are content hashes: no form).
_VERSION_NUMBER: Final = re.compile(r"^[1-9][0-9]{0,9}$")

# Reads a version's stored compact form: `engine.store.get_compiled_form` on a pool.
FORM_READ_SECONDS = 2.0
FormSource = Callable[[str, int], Awaitable[CompiledForm | None]]


class SpecWarmingCodec(PayloadCodec):
    """A payload codec that compiles the workflow of each start input it decodes."""

    def __init__(self, inner: PayloadCodec | None, forms: FormSource | None = None) -> None:
        self.inner = inner
        self.forms = forms

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads) if self.inner is None else await self.inner.encode(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = list(payloads) if self.inner is None else await self.inner.decode(payloads)
        for payload in decoded:
            if _is_large_start_input(payload):
                await self._warm(payload.data)
        return decoded

    async def _warm(self, data: bytes) -> None:
        start = await asyncio.to_thread(_start_of, data)
        if start is None or is_compiled(*start):
            return
        form = await self._form(start[0], start[1])
        await asyncio.to_thread(_load, start, form)

    async def _form(self, workflow: str, version: str) -> CompiledForm | None:
        if self.forms is None or not _VERSION_NUMBER.match(version):
            return None
        try:
            # Bounded: a store that hangs must not hold the activation past its workflow
            # task's timeout; compiling the YAML is the slower but certain way.
            return await asyncio.wait_for(self.forms(workflow, int(version)), FORM_READ_SECONDS)
        except Exception as error:  # the store is down or slow: compile the YAML instead
            log.debug("could not read the compiled form of %s v%s: %s", workflow, version, error)
            return None


def with_spec_warming(converter: DataConverter, forms: FormSource | None = None) -> DataConverter:
    """`converter` with the warming codec outermost (it sees decrypted, resolved data);
    with `forms`, registration's compiled forms are decoded instead of compiling YAML."""
    codec = SpecWarmingCodec(converter.payload_codec, forms)
    return dataclasses.replace(converter, payload_codec=codec)


def _is_large_start_input(payload: Payload) -> bool:
    return (
        payload.metadata.get("encoding") == JSON_PLAIN
        and len(payload.data) >= WARM_FROM_BYTES
        and payload.data.startswith(b"{")
        and all(key in payload.data for key in START_INPUT_KEYS)
    )


Start = tuple[str, str, str]  # workflow, version, YAML text


def _start_of(data: bytes) -> Start | None:
    try:
        document = json.loads(data)
        workflow, version, text = document["workflow"], document["version"], document["yaml"]
    except Exception as error:  # not a start input after all: the workflow decides
        log.debug("could not read a start input ahead of its run: %s", error)
        return None
    if not all(isinstance(value, str) for value in (workflow, version, text)):
        return None
    return workflow, version, text


def _load(start: Start, form: CompiledForm | None) -> None:
    workflow, version, text = start
    try:
        if form is not None and _use_form(start, form):
            return
        spec_of(workflow, version, text)
    except Exception as error:  # the workflow compiles again and reports it
        log.debug("could not compile a start input ahead of its run: %s", error)


def _use_form(start: Start, form: CompiledForm) -> bool:
    """Decode and cache the form if it is this text's, made by this release's compiler."""
    workflow, version, text = start
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    if form.content_hash != digest:
        return False
    spec = decode_spec(form.compiled)
    if (
        spec is None
        or spec.content_hash != digest
        or spec.name != workflow
        or spec.source != f"{workflow}.yaml"
    ):
        log.debug("the compiled form of %s v%s is not usable: compiling its YAML", *start[:2])
        return False
    keep_decoded(workflow, version, text, spec)
    return True
