"""Cursors, event ids and output summaries: pure functions, no database."""

from __future__ import annotations

import base64

import pytest

from engine.store import (
    InvalidCursor,
    decode_cursor,
    encode_cursor,
    event_id,
    seq_from_event_id,
    summarize_output,
)
from engine.store.cursors import decode_runs_cursor, encode_runs_cursor


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("seq", [0, 1, 42, 10**12, 2**63 - 1])
def test_trace_cursors_round_trip(seq: int) -> None:
    cursor = encode_cursor(seq)
    assert cursor.isascii() and "=" not in cursor
    assert decode_cursor(cursor) == seq


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "!!!!",
        "a",
        "dDo",  # "t:" with nothing after it
        _b64("t:abc"),
        _b64("t:-1"),
        _b64("t:01"),
        _b64("t: 1"),
        _b64("t:9223372036854775808"),  # past bigint
        _b64("x:5"),
        _b64("5"),
        encode_cursor(5) + "==",
        encode_runs_cursor(5, "run"),
        "é" * 4,
        "A" * 600,
    ],
)
def test_garbage_trace_cursors_are_refused(garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(garbage)
    with pytest.raises(ValueError):  # InvalidCursor is a ValueError
        decode_cursor(garbage)


def test_encoding_a_negative_seq_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_cursor(-1)


def test_runs_cursors_round_trip_and_refuse_trace_cursors() -> None:
    for stamp, run_id in [(1_700_000_000_000_000, "run:1"), (-5, "r"), (0, "ü")]:
        assert decode_runs_cursor(encode_runs_cursor(stamp, run_id)) == (stamp, run_id)
    for garbage in (encode_cursor(3), _b64("r:-0:x"), _b64("r:12"), _b64("r:12:")):
        with pytest.raises(InvalidCursor):
            decode_runs_cursor(garbage)


def test_event_ids_sort_like_seqs_and_parse_back() -> None:
    seqs = [1, 2, 9, 10, 11, 100, 999_999_999_999]
    ids = [event_id(seq) for seq in seqs]
    assert ids == sorted(ids)
    assert [seq_from_event_id(text) for text in ids] == seqs
    for garbage in ("", "1", "abc", "00000000000x", "0000000000001", "-00000000001"):
        with pytest.raises(InvalidCursor):
            seq_from_event_id(garbage)


def test_small_outputs_are_shown_whole_as_compact_json() -> None:
    assert summarize_output({"a": [1, 2], "b": None}) == '{"a":[1,2],"b":null}'
    assert summarize_output("text") == '"text"'
    assert summarize_output(None) == "null"


def test_large_outputs_are_cut_with_their_size_noted() -> None:
    value = {"items": list(range(2000))}
    whole = len(summarize_output(value, limit=100_000))
    summary = summarize_output(value, limit=200)
    assert len(summary) <= 200
    assert summary.startswith('{"items":[0,1,2,')
    assert summary.endswith(f"… ({whole} bytes)")
    unicode_summary = summarize_output("é" * 5000, limit=64)
    assert len(unicode_summary) <= 64 and unicode_summary.endswith("(10002 bytes)")
    with pytest.raises(ValueError):
        summarize_output(value, limit=5)
