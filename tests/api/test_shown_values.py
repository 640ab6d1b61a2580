"""An execution's rendered input and the values its transitions published, as the trace
shows them (behaviour 4): on the event that ends each attempt and on each taken
TRANSITION, masked as the rest of the trace is (run secrets by value, an action's
declared secret fields whatever their length), and clipped past 8 KiB as JSON to a
preview whose full size `data.clipped` gives."""

from __future__ import annotations

import json
from typing import Any

from engine.temporal.shown_values import SHOWN_VALUE_BYTES
from tests.api.conftest import Harness, unique

TOKEN = "tok-4417-secret"
BLOB_BYTES = 20_000

SHOWS = f"""\
version: 1
input:
  token: {{type: string, secret: true}}
tasks:
  login:
    action: test.login
    input: {{user: bob, password: "pw1"}}
    next:
      - publish: {{who: <% $result.user %>, session: <% $result.session %>}}
        do: blob
  blob:
    action: test.blob
    input: {{bytes: {BLOB_BYTES}, seed: "<% $ctx.token %>"}}
    next:
      - publish: {{blob: <% $result %>}}
        do: gate
  gate:
    action: test.gate
    retry: {{count: 1, delay: 0}}
    input: {{gate: "<% $ctx.token %>", blob: "<% $ctx.blob %>"}}
"""


def _of(events: list[dict[str, Any]], kind: str, task: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind and e.get("nodeId") == task]


def test_inputs_and_published_values_are_shown_masked_and_clipped(harness: Harness) -> None:
    name = unique("shown")
    harness.register(name, SHOWS)
    run_id = harness.start(name, {"token": TOKEN})
    assert harness.wait_for(run_id)["status"] == "FAILED"  # the gate named after it is closed
    events = harness.trace(run_id)
    assert TOKEN not in json.dumps(events)

    # A declared secret field is masked however short ("pw1"); a learned secret result
    # (the session) by value wherever it went.
    [login] = _of(events, "COMPLETED", "login")
    assert login["data"]["input"] == {"user": "bob", "password": "***"}
    [published] = _of(events, "TRANSITION", "login")
    assert published["data"]["values"] == {"who": "bob", "session": "***"}
    assert published["data"]["published"] == ["who", "session"]

    [blob] = _of(events, "COMPLETED", "blob")
    assert blob["data"]["input"] == {"bytes": BLOB_BYTES, "seed": "***"}
    assert "clipped" not in blob["data"]
    # The published blob is masked first (its seed was the token), then clipped.
    [kept] = _of(events, "TRANSITION", "blob")
    masked_blob = "***" + "x" * BLOB_BYTES
    assert kept["data"]["clipped"] == {"values.blob": len(json.dumps(masked_blob))}
    preview = kept["data"]["values"]["blob"]
    assert preview == json.dumps(masked_blob)[:SHOWN_VALUE_BYTES] + "…"

    # Each attempt's outcome shows the input it ran with: the retry's warning, then the end.
    [retried] = [e for e in _of(events, "PROGRESS", "gate") if e["level"] == "warn"]
    [failed] = _of(events, "FAILED", "gate")
    masked_input = {"gate": "***", "blob": masked_blob}
    size = len(json.dumps(masked_input, separators=(",", ":")))
    for event in (retried, failed):
        assert event["data"]["clipped"] == {"input": size}, event
        assert event["data"]["input"].startswith('{"gate":"***","blob":"***xxx')
        assert len(event["data"]["input"].encode()) <= SHOWN_VALUE_BYTES + len("…".encode())
    assert (retried["data"]["attempt"], failed["data"]["attempt"]) == (1, 2)
