"""A run of a registered workflow on a worker with the store loads its spec from the
compact form registration stored (engine/language/compact.py), decoded by the spec
warmer (engine/temporal/spec_warmer.py) before the run's first workflow task: nothing
compiles the YAML. A form the worker cannot trust (none, garbage, another release's,
another YAML's) is passed over: the warmer compiles the YAML, as without a form, and
the run succeeds alike."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from api.cpu_work import ActionNameSet, check_for_registration
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.language.compact import MAGIC
from engine.language.loader import load_workflow
from engine.store import get_compiled_form, open_pool, register_workflow_version
from engine.temporal import compiled
from engine.temporal.activities import SegueActivities
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.spec_warmer import WARM_FROM_BYTES, with_spec_warming
from engine.temporal.worker import build_worker, connect, stored_forms
from tests.support.temporal import BackgroundLoop, start_interpreter
from tests.temporal.test_spec_warming import WORKFLOW_THREAD, large_workflow

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

ACTIONS = ActionNameSet(("core.echo",))


def _registered(name: str, text: str) -> bytes:
    """The form registration makes for `text` (in the API's CPU pool)."""
    checked = check_for_registration(text.encode(), name, ACTIONS, frozenset())
    assert checked.compiled is not None, checked.errors
    return checked.compiled


def _another_release(name: str, text: str) -> bytes:
    form = bytearray(_registered(name, text))
    form[len(MAGIC)] ^= 0xFF  # the fingerprint's first byte: another compiler's
    return bytes(form)


def _another_yaml(name: str, text: str) -> bytes:
    return _registered(name, text.replace("start: [t0]", "start: [t1]"))


STORED: dict[str, tuple[Callable[[str, str], bytes | None], int]] = {
    # the stored form, and how many times the YAML is compiled
    "registered": (_registered, 0),
    "none": (lambda name, text: None, 1),
    "garbage": (lambda name, text: b"garbage" * 1000, 1),
    "truncated": (lambda name, text: _registered(name, text)[:-100], 1),
    "another release's": (_another_release, 1),
    "another YAML's": (_another_yaml, 1),
}


@pytest.mark.parametrize("stored", STORED)
def test_a_run_loads_its_spec_from_the_stored_form(
    temporal_address: str,
    postgres_url: str,
    background_loop: BackgroundLoop,
    monkeypatch: pytest.MonkeyPatch,
    stored: str,
) -> None:
    make_form, compiles = STORED[stored]
    text = large_workflow(400)
    assert len(text.encode()) > WARM_FROM_BYTES
    name = f"w{uuid.uuid4().hex}"  # a name of its own: the process has never seen it
    threads: list[str] = []
    load = load_workflow

    def recording_load(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return load(*args, **kwargs)

    monkeypatch.setattr(compiled, "load_workflow", recording_load)
    decoded_before = compiled.LOADS["stored form"]

    async def scenario() -> str:
        pool = await open_pool(postgres_url)
        try:
            digest = hashlib.sha256(text.encode()).hexdigest()
            version = await register_workflow_version(
                pool, name, text, digest, make_form(name, text)
            )
            converter = with_spec_warming(DATA_CONVERTER, stored_forms(pool))
            client = await connect(temporal_address, data_converter=converter)
            queue = f"compact-{uuid.uuid4().hex[:8]}"
            activities = SegueActivities(ActionCatalog(builtin_actions()))
            async with build_worker(client, activities, task_queue=queue):
                handle = await start_interpreter(
                    client, queue, text, name=name, version=str(version.version)
                )
                return (await handle.result()).status
        finally:
            await pool.close()

    assert background_loop.run(scenario(), timeout=120) == "succeeded"
    assert len(threads) == compiles, threads
    assert not any(thread.startswith(WORKFLOW_THREAD) for thread in threads), threads
    assert compiled.LOADS["stored form"] - decoded_before == 1 - compiles


def test_registering_again_refreshes_a_missing_form(postgres_url: str) -> None:
    """A version registered before forms were kept (or by another release) gets this
    release's form when its content is registered again."""
    text = large_workflow(3)
    name = f"w{uuid.uuid4().hex}"
    digest = hashlib.sha256(text.encode()).hexdigest()

    async def scenario() -> tuple[Any, Any, Any]:
        pool = await open_pool(postgres_url)
        try:
            first = await register_workflow_version(pool, name, text, digest)
            before = await get_compiled_form(pool, name, first.version)
            again = await register_workflow_version(
                pool, name, text, digest, _registered(name, text)
            )
            after = await get_compiled_form(pool, name, again.version)
            return before, (first.version, again.version, again.created), after
        finally:
            await pool.close()

    before, versions, after = asyncio.run(scenario())
    assert before is None
    assert versions == (1, 1, False)
    assert after is not None
    assert after.content_hash == digest
    assert after.compiled == _registered(name, text)
