"""Which refused answers a run records, so that refusals cannot grow its history.

A refused answer that the Update validator lets through is recorded: the handler puts a
warning in the trace and fails the Update, which costs the history an accepted and a
completed Update (and the workflow task that carries them). Anyone who can answer a
run could otherwise grow its history without bound by answering again and again. So a
run (behaviour 3) records each refusal once per wait and reason, and at most
`MAX_RECORDED_REFUSALS` in a history; any other refusal is turned away by the validator
with the same code and message, which writes nothing. A continued run starts a new
history and a new ledger.
"""

from __future__ import annotations

from typing import Final

MAX_RECORDED_REFUSALS: Final = 20

# (task, execution the answer is pinned to, item, refusal code)
RefusalKey = tuple[str | None, int | None, int | None, str]


class RefusalLedger:
    """The refusals this history has recorded."""

    def __init__(self) -> None:
        self._recorded: set[RefusalKey] = set()

    @property
    def count(self) -> int:
        return len(self._recorded)

    def worth_recording(self, key: RefusalKey) -> bool:
        """Whether a refusal would tell the trace something new, within the bound."""
        return key not in self._recorded and len(self._recorded) < MAX_RECORDED_REFUSALS

    def record(self, key: RefusalKey) -> None:
        self._recorded.add(key)
