"""Stand-ins for an earlier release's worker in version-gate tests.

`engine.temporal.versioning` asks `workflow.patched` for each behaviour's marker,
newest first. A worker of an earlier release knows no marker newer than its own newest
behaviour: patching the stand-in below in its place makes this worker decide as that
release did, for new runs (the markers are not written) and for replays (a recorded
marker newer than the release's is not taken, so the replay goes another way)."""

from __future__ import annotations

from engine.coordinator.behaviour import Behaviour
from engine.temporal import versioning


class EarlierRelease:
    """Answers `patched` as a worker whose newest behaviour is `newest` would."""

    def __init__(self, newest: Behaviour) -> None:
        self.known = {versioning.patch_id(b) for b in Behaviour if b <= newest}

    def patched(self, patch_id: str) -> bool:
        return patch_id in self.known
