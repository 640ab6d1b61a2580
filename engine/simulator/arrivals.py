"""The order in which `segue simulate` completes the attempts an activity would serve.

`segue simulate --temporal` runs the production workflow, which takes each completion
as it arrives; the simulator completes a wave's dispatches in start order. For the two
to agree where that order decides (arrivals at a join, which publish wins, a failure
beside a success), the harness (engine/temporal/simulation.py) holds each mocked result
until every attempt the simulator completes before it has completed in Temporal. This
module gives it that order, by running the pure simulator once with a book that notes
each attempt it answers.

Only the attempts the harness serves count: what the workflow carries out itself
(inline `core.*` actions, `core.sleep` as a timer) never reaches it, and an attempt
served `running` never completes, so nothing waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.language.spec import WorkflowSpec
from engine.simulator.mocks import MockBook, MockEntry, Outcome
from engine.simulator.waves import simulate

# An attempt as the harness's action activity sees it: task, iteration, with-items item.
AttemptKey = tuple[str, int, int | None]


@dataclass(frozen=True, slots=True)
class CompletionOrder:
    """The attempts the harness serves, in the order the simulator completes them; the
    n-th attempt of a key is the n-th time the key appears. `waves` gives each one's
    wave: attempts of one wave complete before the simulator starts anything."""

    attempts: tuple[AttemptKey, ...]
    waves: tuple[int, ...]

    def grouped(self) -> list[list[int]]:
        """The places of each wave's attempts, wave by wave."""
        groups: list[list[int]] = []
        for place, wave in enumerate(self.waves):
            if place and wave == self.waves[place - 1]:
                groups[-1].append(place)
            else:
                groups.append([place])
        return groups

    def positions(self) -> dict[AttemptKey, list[int]]:
        """Each key's places in the order, first attempt first."""
        places: dict[AttemptKey, list[int]] = {}
        for position, key in enumerate(self.attempts):
            places.setdefault(key, []).append(position)
        return places


class _NotingBook(MockBook):
    """A mocks book that notes, in order, each attempt it answers that `served` says the
    harness's activity would serve."""

    def __init__(self, entries: list[MockEntry], served: Callable[[str, str], bool]) -> None:
        super().__init__(entries)
        self.served = served
        self.noted: list[AttemptKey] = []
        self.waves: list[int] = []
        self.wave = 0

    def next_wave(self) -> None:
        self.wave += 1

    def outcome(
        self, task: str, iteration: int, item: int | None, action: str, input: Any
    ) -> Outcome:
        answer = super().outcome(task, iteration, item, action, input)
        if answer.status != "running" and self.served(task, action):
            self.noted.append((task, iteration, item))
            self.waves.append(self.wave)
        return answer


def completion_order(
    spec: WorkflowSpec,
    run_input: dict[str, Any],
    entries: list[MockEntry],
    served: Callable[[str, str], bool],
) -> CompletionOrder:
    """Simulate the run (on fresh `entries`: a book uses up `times`) and give the order
    of the attempts `served(task, action)` says reach the harness."""
    book = _NotingBook(entries, served)
    simulate(spec, run_input, entries, book=book)
    return CompletionOrder(tuple(book.noted), tuple(book.waves))
