"""The node panel shows what an execution was given and what it published (runs on
behaviour 4): the rendered input of its last attempt and each published value, masked
as the trace masks them and, past 8 KiB, clipped with their full size said. Real stack
and Chromium, as tests/api/test_console.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.conftest import Harness, unique
from tests.api.test_console import (  # noqa: F401 (fixtures)
    chromium,
    console,
    needs_chromium,
    node,
    shot,
    wait_status,
)
from tests.api.test_shown_values import BLOB_BYTES, SHOWS, TOKEN


@needs_chromium
def test_the_inspector_shows_inputs_and_published_values(
    harness: Harness,
    console: tuple[Any, list[str]],  # noqa: F811
    tmp_path: Path,
) -> None:
    page, problems = console
    name = unique("shown")
    harness.register(name, SHOWS)
    run_id = harness.start(name, {"token": TOKEN})
    page.goto(f"{harness.url}/#/runs/{run_id}")
    wait_status(page, "gate", "failed")
    page.wait_for_selector(".badge.run-failed", timeout=20_000)
    assert TOKEN not in page.content()

    node(page, "login").click()
    details = page.locator("#inspector dl.details").inner_text()
    assert '"password": "***"' in details and '"user": "bob"' in details  # declared secret
    assert 'who = "bob"\nsession = "***"' in details  # a learned secret result

    node(page, "blob").click()
    details = page.locator("#inspector dl.details").inner_text()
    assert '"seed": "***"' in details
    size = f"{BLOB_BYTES + 5:,}"  # the masked blob as JSON: "***" + the x's, quoted
    assert 'blob = "***xxx' in details and f"clipped: {size} bytes as JSON" in details

    node(page, "gate").click()
    details = page.locator("#inspector dl.details").inner_text()
    assert 'attempt 2: {"gate":"***","blob":"***xxx' in details
    assert "the whole value is in Temporal's history" in details
    shot(page, tmp_path, "inspector-inputs")
    assert not problems, problems
