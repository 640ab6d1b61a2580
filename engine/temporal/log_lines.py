"""What one log line may hold once stored: PostgreSQL's text and jsonb take no NUL and
no lone surrogate, and a line is cut at MAX_LINE_BYTES, its data at MAX_DATA_BYTES
(engine/temporal/task_logs.py keeps the attempt's bounds)."""

from __future__ import annotations

from typing import Any, Final

import msgspec

MAX_LINE_BYTES: Final = 8 * 1024
MAX_DATA_BYTES: Final = 4 * 1024


def storable_message(encoded: bytes) -> str:
    """A message (as UTF-8, lone surrogates already replaced) cut to MAX_LINE_BYTES with
    `… (N bytes)`, NUL replaced (a program may well print one)."""
    size = len(encoded)
    if size > MAX_LINE_BYTES:
        message = f"{encoded[:MAX_LINE_BYTES].decode('utf-8', 'ignore')}… ({size:,} bytes)"
    else:
        message = encoded.decode("utf-8")
    return message.replace("\x00", "\ufffd")


def storable_data(data: dict[str, Any]) -> dict[str, Any]:
    """Line data as PostgreSQL's jsonb takes it: no NUL, no lone surrogate, and at most
    MAX_DATA_BYTES (else a note of its size)."""
    try:
        encoded = msgspec.json.encode(data)
    except UnicodeEncodeError:
        return {"unstorable": "the data holds text that is not valid Unicode"}
    if len(encoded) > MAX_DATA_BYTES:
        return {"truncated": True, "bytes": len(encoded)}
    if b"\\u0000" in encoded:
        cleaned: dict[str, Any] = msgspec.json.decode(encoded.replace(b"\\u0000", b"\\ufffd"))
        return cleaned
    return data
