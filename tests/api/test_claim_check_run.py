"""Large payloads through the API and a worker wired as `segue worker` with a database
(`store_converter`): a 150 KB run input sent by the API's client and a 300 KB action
result both travel by reference, and the run reads both whole."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from engine.temporal.claim_check import ENCODING
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.worker import connect
from tests.api.conftest import Harness, unique

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

LARGE = """\
version: 1
input:
  text: {type: string}
tasks:
  big:
    action: test.blob
    input: {bytes: 300000}
    next:
      - publish:
          result_size: <% $length($result) %>
          input_size: <% $length($ctx.text) %>
output: {result: <% $ctx.result_size %>, input: <% $ctx.input_size %>}
"""


def test_a_large_input_and_result_travel_by_reference_through_the_api(harness: Harness) -> None:
    name = unique("claimed")
    harness.register(name, LARGE)
    text = uuid.uuid4().hex * 4700  # 150,400 characters, over the 128 KiB threshold
    run_id = harness.start(name, {"text": text})
    status = harness.wait_for(run_id)
    assert status["status"] == "COMPLETED", status
    assert status["output"] == {"result": 300_000, "input": len(text)}

    async def raw_history() -> Any:
        raw = await connect(harness.temporal_address, data_converter=DATA_CONVERTER)
        return await raw.get_workflow_handle(run_id).fetch_history()

    history = harness.loop.run(raw_history())
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads
    completed = [
        payload
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        for payload in event.activity_task_completed_event_attributes.result.payloads
    ]
    # The start input (sent by the API's client) and the result: references, not values.
    # (The trace batch an action request carries holds the run input cut to 64 KiB:
    # under the threshold, it stays inline.)
    for payload in (*started, *completed):
        assert payload.metadata["encoding"] == ENCODING and payload.ByteSize() < 200
    assert len(completed) == 1
    stored = b"".join(event.SerializeToString() for event in history.events)
    assert b"x" * 1000 not in stored and len(stored) < 150_000
