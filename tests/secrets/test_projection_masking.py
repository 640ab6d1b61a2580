"""The run row a traced run sends the store (`Projection`) shows no secret: values masked
wherever they are, messages with URLs' userinfo and query values redacted (with no
secret known too), a failed run's rerun point masked like the rest."""

from __future__ import annotations

import msgspec

from engine.masking import Masker
from engine.temporal.run_secrets import RunSecrets
from engine.temporal.types import Projection, RunFailure

TOKEN = "s3cr3t-t0ken"
URL = "https://bot:pw@hooks.example/x?key=abc"


def _secrets(*values: str, inputs: tuple[str, ...] = ()) -> RunSecrets:
    secrets = RunSecrets()
    secrets.masker = Masker(values)
    secrets.inputs = inputs
    return secrets


def _failed(message: str, output: object = None) -> Projection:
    return Projection(
        "failed",
        1,
        1,
        9,
        output=output,
        errors=[{"type": "action_failed", "message": message, "task": "call"}],
        errors_dropped=0,
        completed_at_ms=5,
        failure=RunFailure(message, {"type": "action_failed"}),
    )


def test_a_secret_is_masked_in_the_output_errors_and_failure() -> None:
    shown = _secrets(TOKEN).projection(
        _failed(f"denied for {TOKEN}", {"echo": [TOKEN, {TOKEN: 1}]})
    )
    assert shown.output == {"echo": ["***", {"***": 1}]}
    assert shown.errors == [{"type": "action_failed", "message": "denied for ***", "task": "call"}]
    assert shown.failure == RunFailure("denied for ***", {"type": "action_failed"})
    assert (shown.status, shown.progress_total, shown.history_length) == ("failed", 1, 9)


def test_urls_in_messages_are_redacted_without_any_secret() -> None:
    shown = _secrets().projection(_failed(f"POST {URL} failed", {"url": URL}))
    assert shown.errors is not None and shown.failure is not None
    for message in (shown.errors[0]["message"], shown.failure.reason):
        assert "pw" not in message and "abc" not in message and "hooks.example" in message
    assert shown.output == {"url": URL}  # values are data: only secrets are masked there


def test_the_rerun_point_masks_values_and_secret_inputs_by_name() -> None:
    point = {"contexts": [[{"password": "pw1", "note": TOKEN}, 0]], "tasks": []}
    failed = msgspec.structs.replace(_failed("boom"), rerun_point=point)
    shown = _secrets(TOKEN, inputs=("password",)).projection(failed)
    assert shown.rerun_point == {"contexts": [[{"password": "***", "note": "***"}, 0]], "tasks": []}


def test_a_live_run_sends_only_what_it_knows() -> None:
    live = Projection("running", 0, 2, 4)
    assert _secrets(TOKEN).projection(live) == live
