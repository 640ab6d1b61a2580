"""Behaviour changes gated for runs in flight (`workflow.patched`), one id per change.

A patch id is recorded in a run's history the first time the new code path runs. The
replay of a history recorded before has no marker, so it takes the old path and issues
the same commands; runs that reach the gated code on the new release take the new path.
Remove an old path (and call `workflow.deprecate_patch`) only once no run started
before its release can still be replayed.
"""

from __future__ import annotations

from typing import Final

# Issue 9: `core.fail` runs in the workflow (it ran as an activity), and so do the waits
# of with-items items (each failed with `native_only` as an activity). Checked at the
# first dispatch whose placement changed (engine/temporal/placement.py).
PLACEMENT_PATCH: Final = "segue-9-workflow-placement"
# Issue 9: with-items attempts are numbered per execution (`do: retry` continues the count;
# `$task.attempt` in `next` is the highest attempt any item took). Checked when the
# coordinator is built, as it changes what later expressions see.
ITEM_ATTEMPTS_PATCH: Final = "segue-9-item-attempts"
