"""`segue simulate --temporal`: each mocked result waits for its turn in the simulator's
order, so the production workflow takes completions in the order `segue simulate` does.

The harness's action activity (engine/temporal/simulation.py) finds, for each attempt it
serves, its place in the simulator's completion order (engine/simulator/arrivals.py).
Before it answers, every attempt placed earlier must have answered, its completion must
be in the run's history (Temporal no longer lists it as pending) and the workflow must
have taken it (no workflow task pending): so completions reach the workflow one at a
time, each in a workflow task of its own, in that order. One at a time, not as the
simulator's waves: the harness cannot make Temporal put several completions in one
workflow task, and letting them meet there when they happen to arrive together would
make the outcome vary from run to run. A wait is bounded: when the attempt waited for
never comes (the workflow took another course than the simulator), the held one answers
anyway and the outcome says which attempt it waited for, so the comparison fails
instead of hanging.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from engine.simulator.arrivals import AttemptKey, CompletionOrder

# How long an attempt waits for those before it, in wall time. Those are served at once
# unless a timer comes first, which Temporal does not skip while an attempt is held.
HOLD_LIMIT_SECONDS = 30.0
HOLD_POLL_SECONDS = 0.005
# An attempt in Temporal: (the workflow execution's run id, the activity id). Activity
# ids start again at 1 after continue-as-new.
Attempt = tuple[str, str]


@dataclass
class Turns:
    """One run's completion order and how far Temporal has come along it."""

    order: CompletionOrder
    places: dict[AttemptKey, list[int]] = field(default_factory=dict)
    asked: Counter[AttemptKey] = field(default_factory=Counter)
    answered: dict[int, Attempt] = field(default_factory=dict)  # place -> its attempt
    problems: list[str] = field(default_factory=list)
    gave_up: bool = False  # one attempt waited in vain: the rest of the run waits no more
    _open: int = 0  # the first place not answered yet
    _recorded: int = 0  # every place before this one is in the history

    def __post_init__(self) -> None:
        self.places = self.order.positions()

    def place(self, key: AttemptKey) -> int | None:
        """The place of the next attempt of `key` (None: the simulator completes no
        more of them, so it waits for nothing)."""
        index = self.asked[key]
        self.asked[key] += 1
        places = self.places.get(key, [])
        return places[index] if index < len(places) else None

    def answering(self, place: int | None, attempt: Attempt) -> None:
        """The attempt at `place` answers now."""
        if place is not None:
            self.answered[place] = attempt
            while self._open in self.answered:
                self._open += 1

    async def wait_turn(
        self,
        place: int,
        pending: Callable[[], Awaitable[set[Attempt] | None]],
        heartbeat: Callable[[], None],
    ) -> None:
        """Until every attempt placed before `place` has completed in Temporal and the
        workflow has taken it (`pending` gives the attempts still open, None while a
        workflow task is), or HOLD_LIMIT_SECONDS have passed (noted in `problems`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLD_LIMIT_SECONDS
        while self._recorded < place and not self.gave_up:
            if self._open >= place:
                # All answered: wait until the workflow has taken their completions.
                waiting = {self.answered[p] for p in range(self._recorded, place)}
                still = await pending()
                if still is not None and not waiting & still:
                    self._recorded = max(self._recorded, place)
                    return
            if loop.time() > deadline:
                self.problems.append(self._late(place))
                self.gave_up = True
                return
            heartbeat()
            await asyncio.sleep(HOLD_POLL_SECONDS)

    def _late(self, place: int) -> str:
        task, iteration, item = self.order.attempts[place]
        waited = self._open if self._open < place else place - 1
        w_task, w_iteration, w_item = self.order.attempts[waited]
        return (
            f"the attempt of {task!r} (iteration {iteration}, item {item}) waited "
            f"{HOLD_LIMIT_SECONDS:g} s for the one `segue simulate` completes before it, of "
            f"{w_task!r} (iteration {w_iteration}, item {w_item}), which never completed: "
            "the workflow took another course"
        )
