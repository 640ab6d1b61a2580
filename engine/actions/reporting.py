"""What an action reports while it runs — log lines, progress, artifacts — checked here,
delivered by the host's `TaskReporter` (the Temporal binding writes them to the store).

The checks run in the action's own call, so a bad argument fails the action at the line
that made it, with a precise message; limits on volume (lines and bytes per attempt)
belong to the host, which cuts and marks rather than fails.
"""

from __future__ import annotations

import math
import mimetypes
import os
import re
from pathlib import Path
from typing import Any, Final, Protocol

from engine.actions.json_values import to_json_value

LOG_LEVELS: Final = ("debug", "info", "warn", "error")
# One artifact's size cap (the store's, docs/actions.md).
MAX_ARTIFACT_BYTES: Final = 10 * 1024 * 1024
ARTIFACT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
MEDIA_TYPE: Final = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*(;[ -~]{0,150})?")
MAX_PROGRESS_MESSAGE: Final = 1000
DEFAULT_MEDIA_TYPE: Final = "application/octet-stream"


class TaskReporter(Protocol):
    """Where an attempt's reports go; arguments arrive checked."""

    def log(self, level: str, message: str, data: dict[str, Any] | None, /) -> None: ...

    def progress(self, done: float, total: float | None, message: str | None, /) -> None: ...

    def artifact(self, name: str, content: bytes, media_type: str, /) -> None: ...


class NoReporter:
    """Reports go nowhere (tests, `segue simulate`, workflow-placed built-ins)."""

    def log(self, level: str, message: str, data: dict[str, Any] | None, /) -> None:
        return None

    def progress(self, done: float, total: float | None, message: str | None, /) -> None:
        return None

    def artifact(self, name: str, content: bytes, media_type: str, /) -> None:
        return None


NO_REPORTER: Final = NoReporter()


def checked_log(level: Any, message: Any, data: dict[str, Any]) -> dict[str, Any] | None:
    """The data of a valid `ctx.log` call as JSON (None when empty); raise otherwise."""
    if level not in LOG_LEVELS:
        raise ValueError(f"ctx.log: level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    if not isinstance(message, str):
        raise TypeError(f"ctx.log: message must be a str, got {type(message).__name__}")
    if not data:
        return None
    converted: dict[str, Any] = to_json_value(data, "ctx.log data")
    return converted


def checked_progress(done: Any, total: Any, message: Any) -> tuple[float, float | None, str | None]:
    """The arguments of a valid `ctx.progress` call; raise otherwise."""
    if not _is_count(done):
        raise ValueError(f"ctx.progress: done must be a finite number >= 0, got {done!r}")
    if total is not None:
        if not _is_count(total):
            raise ValueError(f"ctx.progress: total must be a finite number >= 0, got {total!r}")
        if done > total:
            raise ValueError(f"ctx.progress: done ({done:g}) is more than total ({total:g})")
    if message is not None:
        if not isinstance(message, str):
            raise TypeError(f"ctx.progress: message must be a str, got {type(message).__name__}")
        message = message[:MAX_PROGRESS_MESSAGE]
    return float(done), None if total is None else float(total), message


def checked_artifact(name: Any, content: Any, media_type: Any) -> tuple[str, bytes, str]:
    """(name, bytes, media type) of a valid `ctx.artifact` call; raise otherwise.

    `content` is bytes, text (stored as UTF-8) or a path (`os.PathLike`) to a file; a str
    is always text, never a path."""
    if not isinstance(name, str) or not ARTIFACT_NAME.fullmatch(name):
        raise ValueError(
            "ctx.artifact: name must be 1-200 characters of letters, digits, '.', '_' and "
            f"'-', starting with a letter or digit; got {name!r}"
        )
    if media_type is not None and (
        not isinstance(media_type, str) or not MEDIA_TYPE.fullmatch(media_type.lower())
    ):
        raise ValueError(
            f"ctx.artifact: media_type must look like 'type/subtype', got {media_type!r}"
        )
    if isinstance(content, bytes | bytearray | memoryview):
        data = bytes(content)
    elif isinstance(content, str):
        data = content.encode("utf-8")
        media_type = media_type or "text/plain; charset=utf-8"
    elif isinstance(content, os.PathLike):
        data = _read_capped(Path(os.fspath(content)))
    else:
        raise TypeError(
            f"ctx.artifact: content must be bytes, a str or a path, got {type(content).__name__}"
        )
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ValueError(
            f"ctx.artifact: {name!r} is {len(data):,} bytes; an artifact may hold at most "
            f"{MAX_ARTIFACT_BYTES:,}"
        )
    guessed = mimetypes.guess_type(name)[0]
    return name, data, (media_type or guessed or DEFAULT_MEDIA_TYPE).lower()


def _read_capped(path: Path) -> bytes:
    """A file's bytes, refused before reading when it is over the cap."""
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_ARTIFACT_BYTES:
                raise ValueError(
                    f"ctx.artifact: {str(path)!r} is {size:,} bytes; an artifact may hold at "
                    f"most {MAX_ARTIFACT_BYTES:,}"
                )
            # One byte more than the cap: a file that grew while read is still refused.
            return file.read(MAX_ARTIFACT_BYTES + 1)
    except OSError as error:
        raise ValueError(f"ctx.artifact: cannot read {str(path)!r}: {error.strerror}") from None


def _is_count(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
