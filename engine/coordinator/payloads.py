"""The cap on what one Temporal payload may carry: an action input, the run output.

Temporal refuses a payload over 2 MiB, and it refuses it by failing the workflow task,
which it then retries for ever: the run stays RUNNING with nothing to show (issue 11,
case 4). So the coordinator measures what it hands out and fails the task or the run
with a `payload_too_large` error entry first, leaving room under 2 MiB for the rest of
the request (its trace events, names, the envelope). Runs on behaviour 2 and later.

The run's context is capped too (behaviour 3 and later): it lives in the coordinator
state, so in every snapshot that carries a run across continue-as-new, and a loop that
publishes a growing value would otherwise grow that state until Temporal refused it.

So are the item results a with-items execution keeps until its last item ends (behaviour
5 and later): 10,000 items of up to 16 MiB each would otherwise hold gigabytes in the
worker, and in the snapshot (which then goes by claim-check reference, or, on a worker
without the store, is refused by Temporal). Past `MAX_ITEM_RESULTS_BYTES` the item whose
result crosses it fails with `payload_too_large` and no further item starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

from engine.coordinator.error_types import ErrorType
from engine.expressions.errors import ExpressionError

MAX_PAYLOAD_BYTES: Final = 1024 * 1024
# Half a payload: the snapshot that carries the state across continue-as-new holds the
# contexts of every live path besides, and must stay under Temporal's 2 MiB.
MAX_CONTEXT_BYTES: Final = 512 * 1024
PAYLOAD_TOO_LARGE: Final = ErrorType.PAYLOAD_TOO_LARGE.value
# What a with-items execution's results may add up to, as JSON: the largest result one
# action attempt may return by default (engine/temporal/claim_check.py), as the list is
# the execution's one result.
MAX_ITEM_RESULTS_BYTES: Final = 16 * 1024 * 1024


def payload_size(value: Any) -> int:
    """The size of `value` as JSON, in bytes (what Temporal's payload will hold)."""
    return len(msgspec.json.encode(value, enc_hook=str))


def check_payload(value: Any, what: str, limit: int = MAX_PAYLOAD_BYTES) -> None:
    """Raise a `payload_too_large` `ExpressionError` if `value` is larger than `limit`."""
    size = payload_size(value)
    if size > limit:
        raise ExpressionError(
            f"{what} is {size:,} bytes as JSON, more than the {limit:,} a payload may carry",
            expression="",
            kind=PAYLOAD_TOO_LARGE,
        )


def check_context(
    values: Mapping[str, Any], published: Iterable[str], limit: int = MAX_CONTEXT_BYTES
) -> None:
    """Raise a `payload_too_large` `ExpressionError` naming the largest of the `published`
    names if the context `values` is larger than `limit` as JSON."""
    size = payload_size(values)
    if size <= limit:
        return
    names = list(published)
    largest = max(names, key=lambda name: payload_size(values.get(name)))
    raise ExpressionError(
        f"publishing {largest!r} makes the run's context {size:,} bytes as JSON, more than "
        f"the {limit:,} a context may hold",
        expression="",
        kind=PAYLOAD_TOO_LARGE,
    )
