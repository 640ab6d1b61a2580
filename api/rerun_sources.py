"""What a rerun starts from, in clear: the earlier run's real input and rerun point.

The store keeps both with secrets masked (docs/security.md "What is at rest where"), so a
rerun of a run that had secrets reads them back from the run's history in Temporal,
through the API's client, which holds the codec (engine/temporal/run_record.py). A run
without secrets is rerun from the store, as before, even once Temporal's retention has
removed its history.
"""

from __future__ import annotations

import json
from typing import Any

from api.problems import conflict
from api.services import Services
from engine.masking import MASK
from engine.store import RunRecord, WorkflowVersion
from engine.temporal.client import ExecutionNotFound
from engine.temporal.run_record import RunRecordMissing, failed_rerun_point, started_input


def _gone(what: str) -> Exception:
    return conflict(
        "RERUN_SOURCE_GONE",
        f"the run's {what} held secrets, which Segue's database keeps masked, and the run's "
        "history in Temporal (where the real values are) is gone; start a new run instead",
    )


async def earlier_input(services: Services, run: RunRecord, version: WorkflowVersion) -> Any:
    """The input `run` really started with; 409 RERUN_SOURCE_GONE when it held declared
    secrets and Temporal no longer has its history."""
    secret_inputs = (await services.versions.program(version)).spec.secret_inputs
    if not secret_inputs or not isinstance(run.input, dict):
        return run.input
    if not any(name in run.input for name in secret_inputs):
        return run.input  # no secret was given (optional ones): the store holds it all
    try:
        return await started_input(services.temporal, run.run_id)
    except (RunRecordMissing, ExecutionNotFound):
        raise _gone("input") from None


async def earlier_rerun_point(services: Services, run: RunRecord, stored: Any) -> Any:
    """The real context a failed run stopped in (the `stored` one may be masked); 409
    RERUN_SOURCE_GONE when it is masked and Temporal no longer has the run's history."""
    try:
        real = await failed_rerun_point(services.temporal, run.run_id)
    except ExecutionNotFound:
        # A point masked in the store cannot be rerun from: `***` would replace the
        # secret. One with no mask in it is the real one (the run had no secrets).
        if MASK in json.dumps(stored):
            raise _gone("context") from None
        return stored
    return stored if real is None else real
