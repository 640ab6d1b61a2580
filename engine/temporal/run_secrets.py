"""A run's secrets inside the interpreter workflow: its named secrets, resolved once by
an activity at the start (so every replay reads them from history, never from the
worker's environment), and the masker every trace batch and projection goes through.

Masking happens when a batch is built, so a value learned late (an action result's
secret field) still masks everything written after it; what the masker knows travels
across continue-as-new in the run's carried state.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    import msgspec

    from engine.coordinator.behaviour import Behaviour
    from engine.coordinator.commands import ErrorEntry
    from engine.language.spec import WorkflowSpec
    from engine.masking import MASK, Masker, mask_fields, redact_urls, secret_values, spellings
    from engine.secret_source import SECRET_UNKNOWN
    from engine.temporal.carried import Carried, CarriedSecrets
    from engine.temporal.types import (
        RESOLVE_SECRETS,
        InterpreterInput,
        Projection,
        RunFailure,
        TraceRecord,
    )

RESOLVE_TIMEOUT = timedelta(seconds=30)
RESOLVE_RETRY = RetryPolicy(maximum_attempts=3)  # a missing secret fails for good anyway


class RunSecrets:
    """What a run must never show: declared secret inputs, named secrets, learned values."""

    def __init__(self) -> None:
        self.named: dict[str, str] = {}
        self.inputs: tuple[str, ...] = ()
        self.masker = Masker()

    async def begin(
        self,
        spec: WorkflowSpec,
        params: InterpreterInput,
        carried: Carried,
        behaviour: Behaviour,
    ) -> ErrorEntry | None:
        """At a run's start: resolve its named secrets and learn its secret inputs; the
        error that fails the run when a named secret cannot be had."""
        if behaviour < Behaviour.OBSERVED:
            return None  # runs of older behaviours knew no secrets (and replay so)
        self.inputs = spec.secret_inputs
        if spec.secrets:
            try:
                self.named = await workflow.execute_local_activity(
                    RESOLVE_SECRETS,
                    sorted(spec.secrets),
                    result_type=dict,
                    start_to_close_timeout=RESOLVE_TIMEOUT,
                    retry_policy=RESOLVE_RETRY,
                )
            except FailureError as failure:
                cause = failure.cause if failure.cause is not None else failure
                return ErrorEntry(
                    type=SECRET_UNKNOWN, message=getattr(cause, "message", None) or str(cause)
                )
        given = params.input if isinstance(params.input, dict) else {}
        self.learn(
            [
                *self.named.values(),
                *(text for name in self.inputs for text in secret_values(given.get(name))),
                # A child run: what its parent masks and passed into its input, whether
                # or not this workflow declares those inputs secret.
                *carried.masked,
            ]
        )
        return None

    def passed_into(self, value: Any) -> list[str]:
        """The values this run masks that appear in `value` (a child run's input), in
        any of their spellings: the child masks them too (carried in its start input,
        which the codec seals; never in a search attribute or memo)."""
        if not self.masker:
            return []
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            return list(self.masker.values)  # cannot look inside: pass them all
        return [v for v in self.masker.values if any(f in text for f in spellings(v))]

    def resume(self, carried: Carried) -> None:
        """After continue-as-new: what the previous execution knew."""
        if carried.secrets is not None:
            self.named = dict(carried.secrets.named)
            self.inputs = tuple(carried.secrets.inputs)
            self.masker = Masker(carried.secrets.masked)

    def carried(self) -> CarriedSecrets | None:
        if not (self.named or self.inputs or self.masker):
            return None
        return CarriedSecrets(self.named, list(self.inputs), list(self.masker.values))

    def learn(self, values: Any) -> None:
        """Mask these values too from now on (an action's secret fields)."""
        if isinstance(values, list) and values:
            self.masker = self.masker.with_values(v for v in values if isinstance(v, str))

    @property
    def values(self) -> list[str]:
        return list(self.masker.values)

    def record(self, record: TraceRecord) -> TraceRecord:
        """A trace record as it may be stored and shown."""
        output = record.output
        if record.type == "WORKFLOW_STARTED" and self.inputs:
            output = mask_fields(output, self.inputs)
        masker = self.masker
        error = record.error
        if error is not None:
            error = {**masker.value(error), "message": _message(masker, error.get("message"))}
        return replace(
            record,
            message=_message(masker, record.message),
            error=error,
            output=masker.value(output),
            data=masker.value(record.data),
        )

    @property
    def masks_anything(self) -> bool:
        """Whether anything is masked: values, or declared inputs (short ones too)."""
        return bool(self.masker) or bool(self.inputs)

    def _rerun_point(self, point: Any) -> Any:
        """The rerun point as stored: values masked, and each context's declared secret
        inputs masked by name (a secret under 4 characters is not masked by value)."""
        masked = self.masker.value(point)
        if not self.inputs or not isinstance(masked, dict):
            return masked
        contexts = masked.get("contexts")
        if isinstance(contexts, list):
            masked = {
                **masked,
                "contexts": [
                    [mask_fields(entry[0], self.inputs), *entry[1:]]
                    if isinstance(entry, list) and entry
                    else entry
                    for entry in contexts
                ],
            }
        return masked

    def projection(self, projection: Projection) -> Projection:
        """The run projection (status, output, errors) as it may be stored and shown:
        secrets masked in every value, URLs' userinfo and query values in messages."""
        # The rerun point is stored masked like the rest (PostgreSQL is not sealed by the
        # codec); a rerun from the failed tasks needs the real context, which the run's
        # failure carries in Temporal's (sealed) history (continuation.real_rerun_point,
        # read back by engine/temporal/run_record.py). Without secrets nothing changes.
        masker = self.masker
        failure = projection.failure
        if failure is not None:
            failure = RunFailure(masker.message(failure.reason), masker.value(failure.details))
        errors = projection.errors
        if errors is not None:
            errors = [_error_shown(masker, error) for error in errors]
        rerun_point = projection.rerun_point
        return msgspec.structs.replace(
            projection,
            output=masker.value(projection.output),
            errors=errors,
            failure=failure,
            rerun_point=None if rerun_point is None else self._rerun_point(rerun_point),
        )


def _error_shown(masker: Masker, error: dict[str, Any]) -> dict[str, Any]:
    """An error entry of the run row: masked, its message redacted too."""
    shown: dict[str, Any] = masker.value(error)
    if isinstance(shown.get("message"), str):
        shown = {**shown, "message": redact_urls(shown["message"])}
    return shown


def _message(masker: Masker, text: Any) -> Any:
    return masker.message(text) if isinstance(text, str) else text


__all__ = ["MASK", "RunSecrets"]
