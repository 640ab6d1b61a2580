"""Branch-scoped context (LANGUAGE.md §4, §5).

A context is an immutable mapping of variables plus, for each variable published
during the run, the publish stamp (a run-wide counter; inputs and vars have stamp 0).
Publishing copies the mapping once (cost = number of variables, never history).

Merging at a join or into the run's output applies each arrival's *delta* — what was
published on its own path — in arrival order, over the context the paths shared
(`joined`). To know what a path shared with another, a context carries its forks: the
ids of the places where its lineage split into several paths (an execution whose taken
transitions lead to two or more places). Fork ids come from the same counter as publish
stamps, so a value stamped after the latest fork two contexts have in common was
published on one path alone; a value stamped before it was shared. Only the newest
MAX_FORKS forks are kept: a lineage that forks on every lap of a long loop stays small,
and a join whose common fork is older than that treats every published value of the
later arrival as its delta.

Runs that started on a release before this rule (behaviour 1) merge with `merged`:
for each variable, the value with the newest stamp, whatever the arrival order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Forks a context remembers (see the module docstring).
MAX_FORKS = 32


class Context:
    __slots__ = ("forks", "stamps", "values")

    def __init__(
        self,
        values: dict[str, Any],
        stamps: dict[str, int] | None = None,
        forks: tuple[int, ...] = (),
    ) -> None:
        self.values = values
        self.stamps: dict[str, int] = stamps if stamps is not None else {}
        self.forks = forks

    @classmethod
    def from_row(cls, row: list[Any]) -> Context:
        """A context written by `row` (states written before forks existed have none)."""
        values, stamps = row[0], row[1]
        forks = tuple(int(f) for f in row[2]) if len(row) > 2 else ()
        return cls(dict(values), {name: int(stamp) for name, stamp in stamps.items()}, forks)

    def row(self) -> list[Any]:
        """`[values, stamps]`, and `forks` when there are any: plain JSON."""
        if self.forks:
            return [self.values, self.stamps, list(self.forks)]
        return [self.values, self.stamps]

    def forked(self, fork: int) -> Context:
        """The same variables on a new branch of the lineage, split at `fork`."""
        return Context(self.values, self.stamps, (*self.forks[-(MAX_FORKS - 1) :], fork))

    def stamp(self, name: str) -> int:
        return self.stamps.get(name, 0)

    def with_published(self, published: Mapping[str, Any], stamp: int) -> Context:
        """A new context with `published` set, each variable stamped `stamp`."""
        values = dict(self.values)
        values.update(published)
        stamps = dict(self.stamps)
        for name in published:
            stamps[name] = stamp
        return Context(values, stamps)

    def joined(self, other: Context) -> Context:
        """This context with `other`'s delta applied: every variable `other` published on
        its own path since the two lineages split wins; the rest stays as it is here."""
        if other is self:
            return self
        theirs = set(other.forks)
        common = tuple(fork for fork in self.forks if fork in theirs)
        split = common[-1] if common else 0
        values = dict(self.values)
        stamps = dict(self.stamps)
        for name, value in other.values.items():
            stamp = other.stamps.get(name, 0)
            if stamp > split or name not in values:
                values[name] = value
                if stamp:
                    stamps[name] = stamp
        return Context(values, stamps, common)

    def merged(self, other: Context) -> Context:
        """The newest value of every variable of both contexts (behaviour 1)."""
        if other is self:
            return self
        values = dict(self.values)
        stamps = dict(self.stamps)
        for name, value in other.values.items():
            theirs = other.stamps.get(name, 0)
            if name not in values or theirs > stamps.get(name, 0):
                values[name] = value
                if theirs:
                    stamps[name] = theirs
        return Context(values, stamps)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Context)
            and self.values == other.values
            and self.stamps == other.stamps
            and self.forks == other.forks
        )

    def __repr__(self) -> str:
        return f"Context({self.values!r}, {self.stamps!r}, {self.forks!r})"


class ContextTable:
    """Contexts written once each, as `Context.row()` rows referenced by index: a
    chain passes one context along until something is published, so many holders share
    one; reading the rows back in order restores the sharing."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self._index: dict[int, int] = {}

    def ref(self, context: Context) -> int:
        found = self._index.get(id(context))
        if found is None:
            found = len(self.rows)
            self._index[id(context)] = found
            self.rows.append(context.row())
        return found

    def ref_or_none(self, context: Context | None) -> int | None:
        return None if context is None else self.ref(context)
