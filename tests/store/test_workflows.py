"""The workflow catalog: one immutable version per distinct content, numbered per name."""

from __future__ import annotations

import asyncio

import pytest

from engine.store import (
    get_workflow,
    get_workflow_version,
    list_workflows,
    register_workflow_version,
)
from tests.store.helpers import content_hash, opened_pool, register, run, unique

pytestmark = pytest.mark.postgres


def test_same_content_gives_the_same_version(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            name = unique("wf")
            first = await register(pool, name, "a: 1\n")
            again = await register(pool, name, "a: 1\n")
            assert (first.version, first.created) == (1, True)
            assert (again.version, again.created) == (1, False)
            assert again.created_at == first.created_at

    run(scenario())


def test_changed_content_gives_the_next_version_and_old_content_its_old_one(
    postgres_url: str,
) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            name = unique("wf")
            assert (await register(pool, name, "a: 1\n")).version == 1
            assert (await register(pool, name, "a: 2\n")).version == 2
            back = await register(pool, name, "a: 1\n")
            assert (back.version, back.created) == (1, False)
            other = await register(pool, unique("wf"), "a: 2\n")  # numbering is per name
            assert other.version == 1

    run(scenario())


def test_concurrent_registrations_of_new_content_make_one_version(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url, max_size=8) as pool:
            name = unique("wf")
            await register(pool, name, "first\n")
            results = await asyncio.gather(*(register(pool, name, "second\n") for _ in range(8)))
            assert {result.version for result in results} == {2}
            assert sum(result.created for result in results) == 1
            workflow = await get_workflow(pool, name)
            assert workflow is not None
            assert [info.version for info in workflow.versions] == [1, 2]

    run(scenario())


def test_concurrent_registrations_of_different_contents_number_them_densely(
    postgres_url: str,
) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url, max_size=8) as pool:
            name = unique("wf")
            texts = [f"v: {index}\n" for index in range(8)]
            results = await asyncio.gather(*(register(pool, name, text) for text in texts))
            assert sorted(result.version for result in results) == list(range(1, 9))
            for result, text in zip(results, texts, strict=True):
                assert result.yaml == text
                assert result.content_hash == content_hash(text)

    run(scenario())


def test_reading_the_catalog(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            name = unique("catalog")
            assert await get_workflow(pool, name) is None
            assert await get_workflow_version(pool, name) is None
            await register(pool, name, "one\n")
            await register(pool, name, "two\n")

            workflow = await get_workflow(pool, name)
            assert workflow is not None
            assert (workflow.latest.version, workflow.latest.yaml) == (2, "two\n")
            assert [info.version for info in workflow.versions] == [1, 2]

            latest = await get_workflow_version(pool, name)
            first = await get_workflow_version(pool, name, 1)
            assert latest is not None and latest.yaml == "two\n"
            assert first is not None and first.yaml == "one\n"
            assert await get_workflow_version(pool, name, 3) is None

            listed = {info.name: info.version for info in await list_workflows(pool)}
            assert listed[name] == 2

    run(scenario())


def test_a_content_hash_must_be_sha256_hex(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            await register_workflow_version(pool, unique("wf"), "x", "not-a-hash")

    with pytest.raises(Exception, match="content_hash"):
        run(scenario())
