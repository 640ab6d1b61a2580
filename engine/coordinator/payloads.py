"""The cap on what one Temporal payload may carry: an action input, the run output.

Temporal refuses a payload over 2 MiB, and it refuses it by failing the workflow task,
which it then retries for ever: the run stays RUNNING with nothing to show (issue 11,
case 4). So the coordinator measures what it hands out and fails the task or the run
with a `payload_too_large` error entry first, leaving room under 2 MiB for the rest of
the request (its trace events, names, the envelope). Runs on behaviour 2 and later.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from engine.coordinator.error_types import ErrorType
from engine.expressions.errors import ExpressionError

MAX_PAYLOAD_BYTES: Final = 1024 * 1024
PAYLOAD_TOO_LARGE: Final = ErrorType.PAYLOAD_TOO_LARGE.value


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
