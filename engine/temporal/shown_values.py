"""Values a trace event shows whole only while they are small (behaviour 4): an
execution's rendered input and what its transitions published. Larger ones become a
preview of their JSON text, and `data.clipped` says how large they were; the whole
value stays in Temporal's history (the action's input, the run's context). Clipped
after masking, so a preview never ends in part of a secret the masker would have hidden.

Pure: the workflow sandbox imports it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

import msgspec

from engine.temporal.types import TraceRecord

# A value larger than this as JSON is shown as a preview of this many bytes of it:
# the trace event rides in an activity's input (in the history), so it stays small.
SHOWN_VALUE_BYTES: Final = 8 * 1024


def clipped(value: Any, limit: int = SHOWN_VALUE_BYTES) -> tuple[Any, int | None]:
    """`value` itself when it is at most `limit` bytes as JSON, else a preview of its
    JSON text that long (cut on a character boundary, ending with `…`) and its size."""
    text = msgspec.json.encode(value, enc_hook=str)
    if len(text) <= limit:
        return value, None
    return text[:limit].decode("utf-8", "ignore") + "…", len(text)


def clip_shown(record: TraceRecord) -> TraceRecord:
    """A masked trace record with its `input` and published `values` clipped."""
    data = record.data
    if not data or ("input" not in data and not isinstance(data.get("values"), dict)):
        return record
    data = dict(data)
    # A record written once already (put back after an activity failed) keeps its
    # preview and the size it gave; clipping the preview again would lose that size.
    sizes: dict[str, int] = dict(data.get("clipped") or {})
    if "input" in data and "input" not in sizes:
        data["input"], size = clipped(data["input"])
        if size is not None:
            sizes["input"] = size
    if isinstance(data.get("values"), dict):
        values: dict[str, Any] = {}
        for name, value in data["values"].items():
            if f"values.{name}" in sizes:
                values[name] = value
                continue
            values[name], size = clipped(value)
            if size is not None:
                sizes[f"values.{name}"] = size
        data["values"] = values
    if sizes:
        data["clipped"] = sizes
    return replace(record, data=data)
