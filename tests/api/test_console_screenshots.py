"""The screenshots in docs/console.md, made by driving the console like the other browser
tests (and checking what they show). They land in pytest's tmp dir; with
`SEGUE_DOCS_SCREENSHOTS=1` the ones docs/console.md shows are written to docs/ too:

    SEGUE_DOCS_SCREENSHOTS=1 python -m pytest -q tests/api/test_console_screenshots.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from tests.api.conftest import Harness, unique
from tests.api.test_console import (  # noqa: F401 (fixtures)
    EXAMPLES,
    _edge,
    _open_what_if,
    chromium,
    console,
    health_service,
    needs_chromium,
    node,
    wait_status,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
# The names docs/console.md shows; the other themes stay in the tmp dir.
SHOWN = {"console-run-light", "console-run-dark", "console-replay-dark", "console-whatif-light"}


def keep(page: Any, tmp_path: Path, name: str, *, full_page: bool = False) -> None:
    target = tmp_path / f"{name}.png"
    page.mouse.move(1, 1)  # no hover tooltip in the picture
    page.screenshot(path=str(target), full_page=full_page)
    print(f"screenshot: {target}")
    if os.environ.get("SEGUE_DOCS_SCREENSHOTS") == "1" and name in SHOWN:
        shutil.copyfile(target, DOCS / target.name)


@needs_chromium
def test_the_docs_screenshots(
    harness: Harness,
    console: tuple[Any, list[str]],  # noqa: F811
    health_service: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    page, problems = console
    theme = (
        "dark"
        if page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
        else "light"
    )
    # A run waiting for an approval, the approval form open in the inspector.
    name = unique("approval")
    harness.register(name, (EXAMPLES / "approval.yaml").read_text())
    run_id = harness.start(name)
    page.goto(f"{harness.url}/#/runs/{run_id}?node=approve")
    wait_status(page, "approve", "waiting")
    assert "taken" in (
        _edge(page, "prepare", "approve").locator("path.edge").get_attribute("class") or ""
    )
    page.get_by_label("by", exact=True).fill("reviewer-7")
    keep(page, tmp_path, f"console-run-{theme}")
    # The monitoring loop replayed part-way: the loop's edges lit, the report not reached.
    name = unique("monitoring")
    harness.register(name, (EXAMPLES / "monitoring.yaml").read_text())
    run_id = harness.start(name, {"url": health_service, "interval": 0.3, "max_checks": 5})
    harness.wait_for(run_id, timeout=60)
    page.goto(f"{harness.url}/#/runs/{run_id}?node=check")
    wait_status(page, "report", "succeeded")
    events = int(page.locator("#scrub").get_attribute("max") or "0")
    page.locator("#scrub").fill(str(events * 2 // 3))
    wait_status(page, "report", "pending")
    assert "(replay)" in page.locator(".run-header").inner_text()
    keep(page, tmp_path, f"console-replay-{theme}")
    # What if the first check had answered 200 at once.
    page.locator("#scrub").fill(str(events))
    wait_status(page, "report", "succeeded")
    _open_what_if(page)
    page.get_by_label("task", exact=True).select_option("check")
    page.get_by_label("start #").fill("1")
    page.get_by_label("outcome").select_option("status")
    page.get_by_label("HTTP status").fill("200")
    page.get_by_role("button", name="Change the mock").click()
    page.get_by_role("button", name="Simulate").click()
    page.wait_for_selector("#whatif-diff", timeout=20_000)
    assert "not reached" in page.locator('#whatif-diff tr[data-task="wait"]').inner_text()
    keep(page, tmp_path, f"console-whatif-{theme}", full_page=True)
    assert node(page, "check").count() == 1
    assert not problems, problems
