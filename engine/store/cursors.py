"""Opaque cursors: urlsafe base64 (no padding) of a tagged text, so a cursor from one
listing is rejected by another, and anything this module did not make raises
`InvalidCursor` (a `ValueError`)."""

from __future__ import annotations

import base64
import binascii
import re

from engine.store.errors import InvalidCursor

_TRACE_TAG = "t"
_RUNS_TAG = "r"
_LOGS_TAG = "l"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_MAX_BIGINT = 2**63 - 1
# The times a cursor may carry, in microseconds since the epoch: what Python's datetime
# can hold (0001-01-01 to 9999-12-31); outside it the conversion would overflow.
_MIN_US = -62_135_596_800_000_000
_MAX_US = 253_402_300_799_999_999


def _encode(tag: str, body: str) -> str:
    raw = f"{tag}:{body}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(tag: str, cursor: str) -> str:
    if not cursor or len(cursor) > 512 or not cursor.isascii():
        raise InvalidCursor("malformed cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidCursor("malformed cursor") from error
    found_tag, separator, body = text.partition(":")
    # Decoding is lenient about some bytes; insist on the one spelling we produce.
    if separator != ":" or found_tag != tag or _encode(tag, body) != cursor:
        raise InvalidCursor("malformed cursor")
    return body


def _parse_seq(text: str) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > _MAX_BIGINT:
        raise InvalidCursor("malformed cursor")
    return int(text)


def _encode_seq(tag: str, seq: int, what: str) -> str:
    if not 0 <= seq <= _MAX_BIGINT:
        raise ValueError(f"{what} out of range: {seq}")
    return _encode(tag, str(seq))


def encode_cursor(seq: int) -> str:
    """The trace cursor standing after event `seq` (0: before the first event)."""
    return _encode_seq(_TRACE_TAG, seq, "seq")


def decode_cursor(cursor: str) -> int:
    """The seq a trace cursor stands after; `InvalidCursor` for anything else."""
    return _parse_seq(_decode(_TRACE_TAG, cursor))


def encode_runs_cursor(created_at_us: int, run_id: str) -> str:
    """The runs-list cursor standing after the run (created_at, run_id)."""
    return _encode(_RUNS_TAG, f"{created_at_us}:{run_id}")


def decode_runs_cursor(cursor: str) -> tuple[int, str]:
    """(created_at in microseconds since the epoch, run_id) of a runs-list cursor."""
    stamp, separator, run_id = _decode(_RUNS_TAG, cursor).partition(":")
    if separator != ":" or not run_id:
        raise InvalidCursor("malformed cursor")
    created_at_us = -_parse_seq(stamp[1:]) if stamp.startswith("-") else _parse_seq(stamp)
    if encode_runs_cursor(created_at_us, run_id) != cursor:
        raise InvalidCursor("malformed cursor")
    if not _MIN_US <= created_at_us <= _MAX_US:
        raise InvalidCursor("malformed cursor: time out of range")
    return created_at_us, run_id


def encode_log_cursor(run_seq: int) -> str:
    """The task-log cursor standing after line `run_seq` of a run (0: before the first)."""
    return _encode_seq(_LOGS_TAG, run_seq, "run_seq")


def decode_log_cursor(cursor: str) -> int:
    """The run_seq a task-log cursor stands after; `InvalidCursor` for anything else."""
    return _parse_seq(_decode(_LOGS_TAG, cursor))
