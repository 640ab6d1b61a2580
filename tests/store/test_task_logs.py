"""Task logs in the store and the worker's writer: exactly-once batches in run order,
filters, progress kept while an attempt runs, the attempt's bounds, and a writer that
survives a run without a row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from engine.store import (
    LogLine,
    ProgressRecord,
    RunNotFound,
    append_logs,
    decode_log_cursor,
    encode_log_cursor,
    log_page,
    running_progress,
    set_progress,
)
from engine.store.errors import InvalidCursor
from engine.temporal import log_lines, task_logs
from engine.temporal.store_sink import StoreTaskLogs
from engine.temporal.task_logs import AttemptKey, AttemptLog
from tests.store.helpers import opened_pool, run, start_run

pytestmark = pytest.mark.postgres


def line(seq: int, task: str = "a", execution: int = 1, message: str | None = None) -> LogLine:
    return LogLine(
        task=task,
        execution=execution,
        attempt=1,
        seq=seq,
        timestamp_ms=1_700_000_000_000 + seq,
        level="info",
        message=message or f"{task} {seq}",
    )


def test_a_retried_batch_adds_nothing_and_pages_follow_run_order(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            assert await append_logs(pool, run_id, [line(1), line(2)]) == 2
            assert await append_logs(pool, run_id, [line(1), line(2)]) == 0  # a retry
            assert await append_logs(pool, run_id, [line(1, "b", 2), line(3)]) == 2
            everything = await log_page(pool, run_id, 0)
            assert [r.message for r in everything] == ["a 1", "a 2", "b 1", "a 3"]
            assert [r.run_seq for r in everything] == sorted(r.run_seq for r in everything)
            only_b = await log_page(pool, run_id, 0, task="b")
            assert [r.message for r in only_b] == ["b 1"]
            assert [r.message for r in await log_page(pool, run_id, 0, execution=1)] == [
                "a 1",
                "a 2",
                "a 3",
            ]
            after = await log_page(pool, run_id, everything[1].run_seq, limit=1)
            assert [r.message for r in after] == ["b 1"]
            with pytest.raises(RunNotFound):
                await append_logs(pool, "no-such-run", [line(1)])
            with pytest.raises(ValueError, match="limit"):
                await log_page(pool, run_id, 0, limit=0)

    run(scenario())


def test_concurrent_writers_of_one_run_commit_in_run_seq_order(postgres_url: str) -> None:
    """A reader polling by cursor while eight writers append never misses a line."""

    async def scenario() -> None:
        async with opened_pool(postgres_url, max_size=12) as pool:
            run_id = (await start_run(pool)).run_id

            async def writer(execution: int) -> None:
                for seq in range(1, 41):
                    await append_logs(pool, run_id, [line(seq, f"t{execution}", execution)])

            seen: list[int] = []
            writing = asyncio.gather(*(writer(n) for n in range(8)))
            cursor = 0
            while not writing.done() or cursor < 320:
                page = await log_page(pool, run_id, cursor, 1000)
                seen.extend(record.run_seq for record in page)
                cursor = page[-1].run_seq if page else cursor
                if writing.done() and not page:
                    break
                await asyncio.sleep(0.001)
            await writing
            assert len(seen) == 320 == len(set(seen))

    run(scenario())


@pytest.mark.parametrize("cursor", ["", "dDox", "bDox", "bDotMQ", "bDox" + "A" * 600])
def test_log_cursors_are_checked(cursor: str) -> None:
    if cursor == "bDox":
        assert decode_log_cursor(cursor) == 1 == decode_log_cursor(encode_log_cursor(1))
        return
    with pytest.raises(InvalidCursor):
        decode_log_cursor(cursor)


def test_the_writer_bounds_an_attempt_and_marks_what_it_dropped(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_logs, "MAX_LINES", 50)
    monkeypatch.setattr(log_lines, "MAX_LINE_BYTES", 100)

    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            key = AttemptKey(run_id=run_id, task="t", execution=3, attempt=2)
            writer = AttemptLog(StoreTaskLogs(pool), key)
            writer.log("info", "é" * 200, {"big": "x" * 10_000})
            for n in range(1, 1000):
                writer.log("debug", f"line {n}", None)
            writer.progress(5, 10, "half")
            await asyncio.sleep(0.3)
            (shown,) = await running_progress(pool, run_id)
            assert (shown.task, shown.execution, shown.done, shown.total) == ("t", 3, 5, 10)
            await writer.close()
            assert await running_progress(pool, run_id) == []
            lines = await log_page(pool, run_id, 0, 1000)
            kept = [r for r in lines if r.level != "warn"]
            assert len(kept) == 50
            assert kept[0].message.endswith("… (400 bytes)")
            assert len(kept[0].message.encode()) <= 100 + len("… (400 bytes)".encode())
            assert kept[0].data == {"truncated": True, "bytes": 10_010}
            warn = [r.message for r in lines if r.level == "warn"]
            assert warn[0].startswith("log limit reached")
            # 950 lines, and the progress line, which came after the limit: counted, not kept.
            assert warn[-1].startswith("log truncated: 951 lines")
            assert {(r.attempt, r.execution, r.task) for r in lines} == {(2, 3, "t")}
            assert [r.seq for r in lines] == list(range(1, len(lines) + 1))

    run(scenario())


def test_a_run_without_a_row_costs_the_writer_nothing(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            key = AttemptKey(run_id="never-created", task="t", execution=1, attempt=1)
            writer = AttemptLog(StoreTaskLogs(pool), key)
            writer.log("info", "into the void", None)
            writer.progress(1, None, None)
            writer.artifact("a.txt", b"x", "text/plain")
            await asyncio.wait_for(writer.close(), 5)
            with pytest.raises(RunNotFound):
                await set_progress(
                    pool,
                    "never-created",
                    ProgressRecord(
                        task="t",
                        execution=1,
                        item=None,
                        attempt=1,
                        done=1,
                        total=None,
                        message=None,
                        updated_at=datetime.now(UTC),
                    ),
                )

    run(scenario())


def test_an_attempt_may_keep_only_so_many_artifacts(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_logs, "MAX_ARTIFACTS", 2)
    monkeypatch.setattr(task_logs, "MAX_ARTIFACT_TOTAL", 10)

    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            writer = AttemptLog(
                StoreTaskLogs(pool), AttemptKey(run_id=run_id, task="t", execution=1, attempt=1)
            )
            writer.artifact("a.txt", b"12345", "text/plain")
            with pytest.raises(ValueError, match="at most 10 bytes"):
                writer.artifact("b.txt", b"123456", "text/plain")
            writer.artifact("b.txt", b"12345", "text/plain")
            with pytest.raises(ValueError, match="at most 2 artifacts"):
                writer.artifact("c.txt", b"", "text/plain")
            await writer.close()

    run(scenario())


def test_text_postgresql_cannot_hold_is_made_storable(postgres_url: str) -> None:
    """NUL and lone surrogates, in a message or in data, would fail the whole batch."""

    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            run_id = (await start_run(pool)).run_id
            writer = AttemptLog(
                StoreTaskLogs(pool), AttemptKey(run_id=run_id, task="t", execution=1, attempt=1)
            )
            writer.log("info", "nul \x00 here", {"value": "a\x00b"})
            writer.log("info", "lone \ud800 surrogate", {"value": "\udfff"})
            writer.log("info", "fine", None)
            await writer.close()
            lines = await log_page(pool, run_id, 0)
            assert [(r.message, r.data) for r in lines] == [
                ("nul \ufffd here", {"value": "a\ufffdb"}),
                (
                    "lone ? surrogate",
                    {"unstorable": "the data holds text that is not valid Unicode"},
                ),
                ("fine", None),
            ]

    run(scenario())
