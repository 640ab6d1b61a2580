"""Loading a workflow with the cyclic garbage collector paused.

A load builds ~20 objects per task that all stay alive until it ends (nodes, values,
positions, compiled expressions). CPython's collector counts allocations, not garbage,
so such a burst triggers full collections that each walk every object of the process:
for a 5,000-task file they were half of the load's time, and the reason it grew faster
than the task count. What a load allocates is bounded (1 MiB of text, 200,000 values),
so pausing the collector for its duration bounds the cyclic garbage it can leave too;
reference counting still frees everything else at once.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause cyclic garbage collection while the block runs (nestable, thread-safe).

    The collector is process-wide: it comes back when the last concurrent holder leaves,
    and only if it was on when the first one came in.
    """
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
