"""An attempt's logs, progress and artifacts, on their way from the action to the store.

Nothing here goes through Temporal: history and signals are capped, and a task that
prints a million lines must not cost its run a million events. The activity gives each
attempt an `AttemptLog` (the action's `TaskReporter`); it keeps what the action reports
within the attempt's bounds and writes it in batches from a background task:

- a line after a quiet spell is written at once (live tails see it within a database
  round trip); under load lines gather while a write is in flight and for FLUSH_GAP
  after it, so a chatty task costs about ten commits a second, not one per line;
- an attempt keeps at most MAX_LINES lines and MAX_BYTES bytes of messages; past that
  lines are counted, not kept, and marked by one line when it starts and one at the end;
- progress is stored at most every PROGRESS_EVERY seconds (the latest value wins) and
  each stored value is also a log line with `data.progress`; the run hears of it at most
  every TRACE_PROGRESS_EVERY seconds (a `task_progress` signal, which the workflow turns
  into a trace event: the trace's sequence is the workflow's, progress_events.py);
- a write that fails is retried while the attempt runs; what is still unwritten
  CLOSE_SECONDS after the attempt ended is dropped with a worker warning. Logs never
  fail an action.

`AttemptLog.write` is the one door every line passes (the action's, `shell.run`'s
streams, the markers, artifact announcements): masking secrets belongs there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import msgspec
import psycopg

from engine.masking import Masker
from engine.store.artifacts import NewArtifact
from engine.store.errors import RunNotFound
from engine.store.logs import LogLine, ProgressRecord
from engine.temporal.log_lines import storable_data, storable_message
from engine.temporal.progress_events import MAX_PROGRESS_EVENTS, artifact_news, progress_shown
from engine.temporal.types import (
    SIGNAL_TASK_ARTIFACT,
    SIGNAL_TASK_PROGRESS,
    TaskArtifact,
    TaskProgress,
)

log = logging.getLogger("segue.worker.logs")

MAX_LINES: Final = 20_000
MAX_BYTES: Final = 4 * 1024 * 1024
MAX_ARTIFACTS: Final = 100
MAX_ARTIFACT_TOTAL: Final = 50 * 1024 * 1024
FLUSH_GAP: Final = 0.1
BATCH_LINES: Final = 2000
PROGRESS_EVERY: Final = 1.0
TRACE_PROGRESS_EVERY: Final = 5.0
CLOSE_SECONDS: Final = 10.0
_RETRY_SECONDS: Final = (0.2, 0.5, 1.0, 2.0)
# Store errors that pass (the database is away or restarting): worth another try.
_PASSING: Final = (psycopg.OperationalError, psycopg.InterfaceError, OSError, TimeoutError)


# Sends a signal to the attempt's run: its progress (`task_progress`) or a stored
# artifact (`task_artifact`), which the run puts in its trace (progress_events.py).
Announce = Callable[[str, TaskProgress | TaskArtifact], Awaitable[None]]


class TaskLogStore(Protocol):
    """Where attempts' reports are written (the PostgreSQL store in a deployment)."""

    def lines(self, run_id: str, lines: list[LogLine]) -> Awaitable[int]: ...

    def progress(self, run_id: str, record: ProgressRecord) -> Awaitable[None]: ...

    def clear_progress(self, run_id: str, execution: int, item: int | None) -> Awaitable[None]: ...

    def artifact(self, run_id: str, artifact: NewArtifact) -> Awaitable[int]: ...


class AttemptKey(msgspec.Struct, frozen=True, kw_only=True):
    """Which attempt the reports belong to."""

    run_id: str
    task: str
    execution: int
    attempt: int
    item: int | None = None
    delivery: int = 1  # Temporal's delivery of the attempt (a dead worker's is redone)


class AttemptLog:
    """One attempt's `TaskReporter`: bounded buffers and the task that writes them."""

    def __init__(
        self,
        store: TaskLogStore | None,
        key: AttemptKey,
        announce: Announce | None = None,
        masker: Masker | None = None,
    ) -> None:
        self._store = store
        # The run's secret values: masked in every line, progress message and its data
        # before anything is kept (engine/masking.py).
        self._masker = masker or Masker()
        self._key = key
        self._announce = announce
        self._unannounced: ProgressRecord | None = None
        self._announce_due = 0.0
        self._announced = 0
        self._pending: list[LogLine] = []
        self._artifacts: list[NewArtifact] = []
        self._progress: ProgressRecord | None = None
        self._progress_due = 0.0
        self._seq = 0
        self._kept_lines = 0
        self._kept_bytes = 0
        self._dropped_lines = 0
        self._dropped_bytes = 0
        self._artifact_count = 0
        self._artifact_bytes = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._disabled = store is None  # no store, or the run has no row in it
        # Started by the first report: most attempts report nothing and cost nothing.
        self._writer: asyncio.Task[None] | None = None

    def _kick(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="segue-task-logs")
        self._wake.set()

    # ---------------------------------------------------------------- TaskReporter

    def log(self, level: str, message: str, data: dict[str, Any] | None, /) -> None:
        self.write(level, message, data)

    def progress(self, done: float, total: float | None, message: str | None, /) -> None:
        self._progress = ProgressRecord(
            task=self._key.task,
            execution=self._key.execution,
            item=self._key.item,
            attempt=self._key.attempt,
            done=done,
            total=total,
            message=self._masker.message(message) if message and self._masker else message,
            updated_at=datetime.now(UTC),
        )
        self._kick()

    def artifact(self, name: str, content: bytes, media_type: str, /) -> None:
        if self._artifact_count >= MAX_ARTIFACTS:
            raise ValueError(f"ctx.artifact: an attempt may keep at most {MAX_ARTIFACTS} artifacts")
        if self._artifact_bytes + len(content) > MAX_ARTIFACT_TOTAL:
            raise ValueError(
                f"ctx.artifact: an attempt may keep at most {MAX_ARTIFACT_TOTAL:,} bytes of "
                "artifacts"
            )
        self._artifact_count += 1
        self._artifact_bytes += len(content)
        key = self._key
        self._artifacts.append(
            NewArtifact(
                task=key.task,
                execution=key.execution,
                item=key.item,
                attempt=key.attempt,
                name=name,
                media_type=media_type,
                content=content,
            )
        )
        self._kick()

    # ---------------------------------------------------------------- lines

    def write(self, level: str, message: str, data: dict[str, Any] | None = None) -> None:
        """Keep one line (or count it, past the attempt's bounds). Every line comes here."""
        if self._masker:
            message = self._masker.message(message)
            data = self._masker.value(data)
        encoded = message.encode("utf-8", "replace")  # a lone surrogate becomes "?"
        size = len(encoded)
        if self._kept_lines >= MAX_LINES or self._kept_bytes + size > MAX_BYTES:
            if not self._dropped_lines:
                self._marker(
                    f"log limit reached ({MAX_LINES:,} lines or {MAX_BYTES:,} bytes per "
                    "attempt): later lines are counted, not kept"
                )
            self._dropped_lines += 1
            self._dropped_bytes += size
            return
        message = storable_message(encoded)
        if data is not None:
            data = storable_data(data)
        self._kept_lines += 1
        self._kept_bytes += size
        self._append(level, message, data)

    def _marker(self, message: str, data: dict[str, Any] | None = None) -> None:
        """A line about the log itself: outside the bounds (at most two per attempt)."""
        self._append("warn", message, data)

    def _append(self, level: str, message: str, data: dict[str, Any] | None) -> None:
        self._seq += 1
        key = self._key
        self._pending.append(
            LogLine(
                task=key.task,
                execution=key.execution,
                item=key.item,
                attempt=key.attempt,
                delivery=key.delivery,
                seq=self._seq,
                timestamp_ms=time.time_ns() // 1_000_000,
                level=level,
                message=message,
                data=data,
            )
        )
        self._kick()

    # ---------------------------------------------------------------- writing

    async def close(self) -> None:
        """Write what is left (for at most CLOSE_SECONDS) and forget the progress."""
        if self._dropped_lines:
            self._marker(
                f"log truncated: {self._dropped_lines:,} lines ({self._dropped_bytes:,} bytes) "
                "were not kept",
                {"truncated": {"lines": self._dropped_lines, "bytes": self._dropped_bytes}},
            )
        self._closing = True
        if self._writer is None:
            return  # nothing was reported
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), CLOSE_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            self._writer.cancel()
            unwritten = len(self._pending) + len(self._artifacts)
            log.warning(
                "run %s: %d log lines or artifacts not written", self._key.run_id, unwritten
            )
        except Exception:  # a bug in the writer must not fail the action it reports on
            log.exception("run %s: the log writer failed", self._key.run_id)
        if self._store is not None and not self._disabled:
            with contextlib.suppress(Exception):
                await self._store.clear_progress(
                    self._key.run_id, self._key.execution, self._key.item
                )

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._write_once()
            if self._closing and not (self._pending or self._artifacts or self._progress):
                return
            if not self._closing:
                await asyncio.sleep(FLUSH_GAP)  # lines gather meanwhile: the next batch grows

    async def _write_once(self) -> None:
        for attempt, pause in enumerate((*_RETRY_SECONDS, None)):
            try:
                await self._write_pending()
                return
            except RunNotFound:
                self._disabled = True  # a run without a store row: nothing to write into
                return
            except _PASSING as error:  # the store is away: keep the lines, try again
                if pause is None or (self._closing and attempt >= 1):
                    log.warning("run %s: log write failed (%s)", self._key.run_id, error)
                    self._wake.set()  # try again on the next round
                    return
                await asyncio.sleep(pause)
            except Exception as error:  # fails the same on every retry: drop, never wedge
                log.warning(
                    "run %s: %d log lines and %d artifacts dropped (%s: %s)",
                    self._key.run_id,
                    len(self._pending),
                    len(self._artifacts),
                    type(error).__name__,
                    error,
                )
                self._pending.clear()
                self._artifacts.clear()
                return

    async def _write_pending(self) -> None:
        run_id = self._key.run_id
        store = self._store
        if store is None or self._disabled:
            self._pending.clear()
            self._artifacts.clear()
        else:
            await self._write_lines(store)
        loop = asyncio.get_running_loop()
        progress = self._progress
        if progress is not None and (loop.time() >= self._progress_due or self._closing):
            self._progress = None
            self._progress_due = loop.time() + PROGRESS_EVERY
            self._unannounced = progress
            if store is not None and not self._disabled:
                await store.progress(run_id, progress)
                self.write(
                    "info",
                    progress.message or f"progress {progress_shown(progress.done, progress.total)}",
                    {"progress": {"done": progress.done, "total": progress.total}},
                )
        elif progress is not None:
            loop.call_later(self._progress_due - loop.time(), self._wake.set)
        await self._announce_progress()

    async def _write_lines(self, store: TaskLogStore) -> None:
        run_id = self._key.run_id
        while self._pending:
            batch = self._pending[:BATCH_LINES]
            await store.lines(run_id, batch)
            del self._pending[: len(batch)]
        while self._artifacts:
            artifact = self._artifacts[0]
            artifact_id = await store.artifact(run_id, artifact)
            self._artifacts.pop(0)
            # Announced even while closing: the signal reaches the run before the result.
            await self._signal(
                SIGNAL_TASK_ARTIFACT,
                TaskArtifact(
                    execution=artifact.execution,
                    attempt=artifact.attempt,
                    item=artifact.item,
                    artifact_id=str(artifact_id),
                    name=artifact.name,
                    media_type=artifact.media_type,
                    size_bytes=len(artifact.content),
                ),
            )
            message, announced = artifact_news(
                str(artifact_id), artifact.name, artifact.media_type, len(artifact.content)
            )
            self._marker_free_line(message, {"artifact": announced})

    async def _announce_progress(self) -> None:
        """Signal the latest progress to the run, for its trace, at most every
        TRACE_PROGRESS_EVERY seconds and MAX_PROGRESS_EVENTS times; not while closing
        (the run records the attempt's end next)."""
        progress = self._unannounced
        if progress is None or self._announce is None or self._closing:
            return
        if self._announced >= MAX_PROGRESS_EVENTS:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._announce_due:
            loop.call_later(self._announce_due - loop.time(), self._wake.set)
            return
        self._unannounced = None
        self._announced += 1
        self._announce_due = loop.time() + TRACE_PROGRESS_EVERY
        signal = TaskProgress(
            execution=progress.execution,
            attempt=progress.attempt,
            item=progress.item,
            done=progress.done,
            total=progress.total,
            message=progress.message,
        )
        await self._signal(SIGNAL_TASK_PROGRESS, signal)

    async def _signal(self, name: str, payload: TaskProgress | TaskArtifact) -> None:
        if self._announce is None:
            return
        try:
            await asyncio.wait_for(self._announce(name, payload), 10)
        except Exception as error:  # the run has ended, or Temporal is away: the log has it
            log.debug("run %s: %s signal not sent (%s)", self._key.run_id, name, error)

    def _marker_free_line(self, message: str, data: dict[str, Any]) -> None:
        """An announcement the reader needs (an artifact): kept even past the bounds."""
        self._append("info", message, data)
