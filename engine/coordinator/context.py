"""Branch-scoped context (LANGUAGE.md §4, §5).

A context is an immutable mapping of variables plus, for each variable published
during the run, the publish stamp (a run-wide counter; inputs and vars have stamp 0).
Publishing copies the mapping once (cost = number of variables, never history).
Merging at a join or into the run's output keeps, for each variable, the value with
the newest stamp: a variable that no merged path published keeps its shared value,
and on a clash the value published last wins. The merge is associative and
commutative, so barriers and the output fold arrivals one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Context:
    __slots__ = ("stamps", "values")

    def __init__(self, values: dict[str, Any], stamps: dict[str, int] | None = None) -> None:
        self.values = values
        self.stamps: dict[str, int] = stamps if stamps is not None else {}

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

    def merged(self, other: Context) -> Context:
        """The newest value of every variable of both contexts."""
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
        )

    def __repr__(self) -> str:
        return f"Context({self.values!r}, {self.stamps!r})"


class ContextTable:
    """Contexts written once each, as `[values, stamps]` rows referenced by index: a
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
            self.rows.append([context.values, context.stamps])
        return found

    def ref_or_none(self, context: Context | None) -> int | None:
        return None if context is None else self.ref(context)
