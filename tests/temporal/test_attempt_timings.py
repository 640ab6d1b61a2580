"""A failed attempt's wait for a worker, as its activity's failure says it (behaviour 6,
engine/temporal/dispatch.py `attempt_timings`): the activity's own figures are taken;
anything else in that detail — from an old worker, or a failure completed through
Temporal's API by someone else — is not traced, and `$error.details` never changes."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.exceptions import ActivityError, ApplicationError

from engine.temporal.activities import _timed
from engine.temporal.dispatch import attempt_timings, error_info


def failed(*details: Any) -> ActivityError:
    error = ActivityError(
        "activity failed",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker",
        activity_type="segue.run_action",
        activity_id="1",
        retry_state=None,
    )
    error.__cause__ = ApplicationError("503", *details, type="http_status")
    return error


def test_the_activitys_figures_are_taken_and_the_errors_details_stay() -> None:
    timed = _timed(ApplicationError("503", {"status": 503}, type="http_status"), 0.25, 1.5)
    failure = failed(*timed.details)
    assert attempt_timings(failure) == {"queuedMs": 250, "ranMs": 1500}
    assert error_info(failure).details == {"status": 503}


@pytest.mark.parametrize(
    "details",
    [
        (),  # a worker before behaviour 6
        ({"status": 503},),
        (None, {"queuedMs": 1}),  # one figure
        (None, {"queuedMs": -5, "ranMs": 3}),
        (None, {"queuedMs": True, "ranMs": 3}),
        (None, {"queuedMs": 1.5, "ranMs": 3}),
        (None, {"queuedMs": "10", "ranMs": 3}),
        (None, [1, 2]),
        (None, "queuedMs"),
    ],
)
def test_anything_else_is_not_traced(details: tuple[Any, ...]) -> None:
    assert attempt_timings(failed(*details)) is None
