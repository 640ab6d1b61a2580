"""Which API the CLI talks to, in a module of its own: shell completion asks it on every
Tab press, so it imports nothing heavier than the stack records (api/stackstate.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FoundApi", "data_dir", "find_api"]


def data_dir() -> Path:
    return Path(os.environ.get("SEGUE_DATA_DIR", ".segue")).resolve()


@dataclass(frozen=True)
class FoundApi:
    """An API to talk to, and the stack's demo service when the API is a `segue dev`."""

    url: str
    demo: str = ""


def find_api(explicit: str | None) -> FoundApi | None:
    """`--api`, else SEGUE_API_URL, else the live stack of this directory's data dir,
    else the most recently started live stack of this user (from any directory)."""
    from api.stackstate import live_stacks, stack_of

    if explicit:
        return FoundApi(explicit.rstrip("/"))
    if os.environ.get("SEGUE_API_URL"):
        return FoundApi(os.environ["SEGUE_API_URL"].rstrip("/"))
    record = stack_of(data_dir())
    if record is None:
        running = live_stacks()
        record = running[0] if running else None
    return FoundApi(record.api, record.demo) if record is not None else None
