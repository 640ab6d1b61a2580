"""Small helpers for the store tests: a pool per scenario, a registered workflow, a run."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from engine.store import (
    NewRun,
    RunRecord,
    StorePool,
    WorkflowVersion,
    create_run,
    open_pool,
    register_workflow_version,
)

T = TypeVar("T")


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run an async scenario to the end (each test owns its loop and its pool)."""
    return asyncio.run(scenario)


@asynccontextmanager
async def opened_pool(url: str, max_size: int = 10) -> AsyncIterator[StorePool]:
    pool = await open_pool(url, min_size=1, max_size=max_size)
    try:
        yield pool
    finally:
        await pool.close()


def unique(prefix: str) -> str:
    """A name no other test in the module's shared database uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def register(pool: StorePool, name: str, text: str = "tasks: {}\n") -> WorkflowVersion:
    return await register_workflow_version(pool, name, text, content_hash(text))


async def start_run(pool: StorePool, workflow: str | None = None, **fields: Any) -> RunRecord:
    """A run of a (new, unless named) registered workflow."""
    name = workflow or unique("wf")
    version = await register(pool, name)
    return await create_run(
        pool,
        NewRun(
            run_id=fields.pop("run_id", unique("run")),
            workflow_name=name,
            workflow_version=version.version,
            task_queue="segue",
            **fields,
        ),
    )
