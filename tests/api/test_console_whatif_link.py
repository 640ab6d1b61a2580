"""The what-if deep link: the changed mocks and run input fields travel in the page's
address, so a reload or a shared link shows the same what-if; a link is bounded and
checked when opened, and never carries a secret input. Real stack and Chromium, as
tests/api/test_console.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.api.conftest import Harness, unique
from tests.api.test_console import (  # noqa: F401 (fixtures)
    EXAMPLES,
    chromium,
    console,
    health_service,
    needs_chromium,
    shot,
    wait_status,
)

SAME_AS_A_RELOAD = "would end succeeded (the run: succeeded) · 2 executions"


def linked_changes(page: Any, key: str = "whatif") -> Any:
    query = page.evaluate("() => location.hash").split("?", 1)[1]
    return json.loads(parse_qs(query)[key][0])


def what_if_status(page: Any) -> str:
    page.wait_for_selector("#whatif-status", timeout=20_000)
    return str(page.locator("#whatif-status").inner_text())


@needs_chromium
def test_a_what_if_link_opens_the_same_what_if(
    harness: Harness,
    console: tuple[Any, list[str]],  # noqa: F811
    health_service: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    page, problems = console
    name = unique("monitoring")
    harness.register(name, (EXAMPLES / "monitoring.yaml").read_text())
    run_id = harness.start(name, {"url": health_service, "interval": 0, "max_checks": 5})
    harness.wait_for(run_id, timeout=60)
    page.goto(f"{harness.url}/#/runs/{run_id}")
    wait_status(page, "report", "succeeded")
    page.locator("#whatif > summary").click()
    page.wait_for_function("() => document.querySelector('#whatif-mocks').value.length > 2")
    page.get_by_label("task", exact=True).select_option("check")
    page.get_by_label("start #").fill("1")
    page.get_by_label("start #").dispatch_event("change")
    page.get_by_label("outcome").select_option("status")
    page.get_by_label("HTTP status").fill("200")
    page.get_by_role("button", name="Change the mock").click()
    # Only the change is in the address, not the run's whole export.
    change = {"task": "check", "iteration": 1, "result": {"status": 200}}
    changes = linked_changes(page)
    assert len(changes) == 1 and changes[0]["result"]["status"] == 200
    assert {k: changes[0][k] for k in ("task", "iteration")} == {"task": "check", "iteration": 1}
    assert "opens this what-if" in page.locator("#whatif-link").inner_text()

    # A reload (as a shared link does) opens the panel and simulates the same what-if.
    page.reload()
    assert SAME_AS_A_RELOAD in what_if_status(page)
    assert json.loads(page.locator("#whatif-mocks").input_value())[0]["result"]["status"] == 200
    assert linked_changes(page) == changes
    shot(page, tmp_path, "what-if-link")

    # A link written by hand, with the least a change needs, works the same.
    page.goto(f"{harness.url}/#/runs/{run_id}?whatif={json.dumps([change])}")
    page.reload()
    assert SAME_AS_A_RELOAD in what_if_status(page)

    # Clearing the what-if takes it out of the address.
    page.get_by_role("button", name="Clear the what-if").click()
    page.wait_for_function("() => !location.hash.includes('whatif')")

    # A broken link: said, not used, taken out of the address; the page still works.
    page.goto(f"{harness.url}/#/runs/{run_id}?whatif=%5B%7B")
    page.reload()
    refusal = page.locator("#whatif-result-box [role=alert]")
    refusal.wait_for(timeout=20_000)
    assert "The what-if in this link is not used: it is not JSON" in refusal.inner_text()
    assert "whatif" not in page.evaluate("() => location.hash")
    assert page.locator("#whatif-status").count() == 0
    assert not problems, problems


LONG = "x" * 2001

# (the link's JSON, what the refusal says) — the worst legal and illegal values.
HOSTILE = [
    ("{}", "must be a JSON list"),
    ("[1]", "change 1 is not an object"),
    ('[{"task": "check", "result": 1, "when": true}]', "change 1 has unknown keys: when"),
    ('[{"task": "nope", "result": 1}]', '"nope" is not a task that runs an action'),
    ('[{"task": "wait", "result": 1}]', '"wait" is not a task that runs an action'),
    ('[{"task": "__proto__", "result": 1}]', "is not a task that runs an action"),
    ('[{"task": "check", "iteration": 0, "result": 1}]', "whole number from 1"),
    ('[{"task": "check", "iteration": 1.5, "result": 1}]', "whole number from 1"),
    ('[{"task": "check", "iteration": 1e300, "result": 1}]', "whole number from 1"),
    ('[{"task": "check"}]', 'give a result, or status "failed"'),
    ('[{"task": "check", "status": "failed"}]', "an error {type, message} of strings"),
    ('[{"task": "check", "status": "running", "error": {"type": "a", "message": "b"}}]', "{type"),
    ('[{"task": "check", "status": "failed", "error": {"type": 1, "message": "b"}}]', "strings"),
    (json.dumps([{"task": "check", "result": 1}] * 21), "21 changes; at most 20"),
    (json.dumps([{"task": "check", "result": LONG}]), "characters long; at most 2000"),
]


@needs_chromium
@pytest.mark.parametrize(("text", "said"), HOSTILE)
def test_a_hostile_what_if_link_is_refused_precisely(
    harness: Harness,
    chromium: Any,  # noqa: F811
    text: str,
    said: str,
) -> None:
    page = chromium.new_page()
    try:
        page.goto(harness.url + "/", timeout=20_000)
        refusal = page.evaluate(
            """async ([text]) => {
              const { decodeWhatIf } = await import("/console/whatif.js");
              try { decodeWhatIf(text, new Set(["check", "report"])); return null; }
              catch (error) { return error.message; }
            }""",
            [text],
        )
        assert refusal is not None and said in refusal, refusal
        # The longest accepted link, and one over the bound, which is kept off the address.
        kept = page.evaluate(
            """async () => {
              const link = await import("/console/whatif.js");
              const { encodeWhatIf, decodeWhatIf, MAX_LINK_CHARS } = link;
              const fits = [{ task: "check", result: "x".repeat(MAX_LINK_CHARS - 30) }];
              const text = encodeWhatIf(fits);
              decodeWhatIf(text, new Set(["check"]));
              const over = [{ task: "check", result: "x".repeat(MAX_LINK_CHARS) }];
              return [text.length, encodeWhatIf(over)];
            }"""
        )
        assert kept == [2000, None]
    finally:
        page.close()


@needs_chromium
def test_a_changed_run_input_travels_in_the_link(
    harness: Harness,
    console: tuple[Any, list[str]],  # noqa: F811
    health_service: str,  # noqa: F811
) -> None:
    """What if the run had allowed 2 checks: only that field goes into the address; a
    reload opens the same input over the run's and simulates it."""
    page, problems = console
    name = unique("monitoring")
    harness.register(name, (EXAMPLES / "monitoring.yaml").read_text())
    run_id = harness.start(name, {"url": health_service, "interval": 0, "max_checks": 5})
    harness.wait_for(run_id, timeout=60)
    page.goto(f"{harness.url}/#/runs/{run_id}")
    wait_status(page, "report", "succeeded")
    page.locator("#whatif > summary").click()
    page.wait_for_function("() => document.querySelector('#whatif-input').value.length > 2")
    changed = {**json.loads(page.locator("#whatif-input").input_value()), "max_checks": 2}
    page.locator("#whatif-input").fill(json.dumps(changed))
    page.get_by_role("button", name="Simulate").click()
    assert "would end failed (the run: succeeded)" in what_if_status(page)
    page.wait_for_function("() => location.hash.includes('whatifinput')")
    assert linked_changes(page, "whatifinput") == {"max_checks": 2}
    assert "whatif=" not in page.evaluate("() => location.hash")  # no mock changed

    page.reload()
    assert "would end failed (the run: succeeded)" in what_if_status(page)
    assert json.loads(page.locator("#whatif-input").input_value()) == {
        "url": health_service,
        "interval": 0,
        "max_checks": 2,
    }
    # Clearing puts the run's input back and takes the link out of the address.
    page.get_by_role("button", name="Clear the what-if").click()
    page.wait_for_function("() => !location.hash.includes('whatif')")
    # The run's input comes back from its export, which the page fetches again.
    page.wait_for_function(
        "() => JSON.parse(document.querySelector('#whatif-input').value).max_checks === 5"
    )
    assert not problems, problems


LONG_INPUT = json.dumps({"note": "x" * 2000})

# (the link's `whatifinput`, what the refusal says)
HOSTILE_INPUTS = [
    ("[1, 2]", "its input must be a JSON object of run input fields"),
    ("null", "its input must be a JSON object"),
    ('"text"', "its input must be a JSON object"),
    ("{", "its input is not JSON"),
    ('{"__proto__": {"polluted": true}}', 'may not set the field "__proto__"'),
    ('{"constructor": 1}', 'may not set the field "constructor"'),
    ('{"": 1}', 'may not set the field ""'),
    (json.dumps({f"f{i}": i for i in range(51)}), "sets 51 fields; at most 50"),
    (LONG_INPUT, "characters long; at most 2000"),
]


@needs_chromium
@pytest.mark.parametrize(("text", "said"), HOSTILE_INPUTS)
def test_a_hostile_input_in_a_link_is_refused_precisely(
    harness: Harness,
    chromium: Any,  # noqa: F811
    text: str,
    said: str,
) -> None:
    page = chromium.new_page()
    try:
        page.goto(harness.url + "/", timeout=20_000)
        refusal = page.evaluate(
            """async ([text]) => {
              const { decodeInputChanges } = await import("/console/whatif.js");
              try { decodeInputChanges(text); return null; }
              catch (error) { return error.message; }
            }""",
            [text],
        )
        assert refusal is not None and said in refusal, refusal
        assert page.evaluate("() => ({}).polluted") is None
    finally:
        page.close()


@needs_chromium
def test_a_link_carries_only_changed_fields_and_never_a_secret(
    harness: Harness,
    chromium: Any,  # noqa: F811
) -> None:
    page = chromium.new_page()
    try:
        page.goto(harness.url + "/", timeout=20_000)
        carried = page.evaluate(
            """async () => {
              const link = await import("/console/whatif.js");
              const start = { url: "http://a", token: "***", list: [1, 2] };
              const input = { url: "http://a", token: "typed-secret", list: [1, 2, 3], n: 1 };
              const [fields, left] = link.inputChanges(start, input, new Set(["token"]));
              const fits = { note: "x".repeat(link.MAX_INPUT_LINK_CHARS - 11) };
              const many = Object.fromEntries([...Array(51).keys()].map((i) => [`f${i}`, i]));
              return [fields, left, link.encodeInputChanges(fields),
                      link.encodeInputChanges(fits).length, link.encodeInputChanges(many),
                      link.encodeInputChanges({})];
            }"""
        )
        assert carried == [
            {"list": [1, 2, 3], "n": 1},
            ["token"],
            '{"list":[1,2,3],"n":1}',
            2000,
            None,
            "",
        ]
    finally:
        page.close()
