"""The run console in a real Chromium (Debian's, driven by Playwright) against the real
stack: the API serving the page, a worker, the Temporal dev server and PostgreSQL.
Screenshots land in pytest's tmp dir (the path is printed)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.console_assets import CONTENT_SECURITY_POLICY, load_assets
from api.demo_service import demo_service
from tests.api.conftest import TOKEN, Harness, ServedApp, unique
from tests.api.test_browsers import CHROMIUM, CHROMIUM_ARGS, dev_api  # noqa: F401 (a fixture)
from tests.support.graphs import layered_workflow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONSOLE = Path(__file__).resolve().parents[2] / "api" / "console"
needs_chromium = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")


# ---------------------------------------------------------------- serving


@pytest.mark.parametrize(
    ("path", "media"),
    [
        ("/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/console.css", "text/css"),
        ("/console/vendor/dagre.esm.js", "text/javascript"),
        ("/console/vendor/dagre.LICENSE", "text/plain"),
    ],
)
def test_the_console_is_served_without_a_token_under_a_strict_policy(
    harness: Harness, path: str, media: str
) -> None:
    answer = httpx.get(harness.url + path, timeout=10)  # no Authorization header
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(media)
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "path",
    [
        "/console/nope.js",
        "/console/../api/app.py",
        "/console/%2e%2e/%2e%2e/pyproject.toml",
        "/console/vendor/../../app.py",
        "/console//etc/passwd",
        "/console/" + "a" * 5000,
        "/console/vendor/dagre.esm.js.map",
    ],
)
def test_only_the_console_files_are_served(harness: Harness, path: str) -> None:
    answer = httpx.get(harness.url + path, timeout=10)
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "NOT_FOUND"


def test_the_api_keeps_its_routes_and_its_token(harness: Harness) -> None:
    assert httpx.get(f"{harness.url}/workflows", timeout=10).status_code == 401
    assert harness.client.get("/workflows").status_code == 200


def test_no_markup_carries_inline_script_or_style() -> None:
    page = (CONSOLE / "index.html").read_text()
    assert "<script>" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+\s*=", page, re.IGNORECASE)
    for script in CONSOLE.glob("*.js"):
        text = script.read_text()
        for forbidden in ("innerHTML", "eval(", "new Function", 'setAttribute("style"'):
            assert forbidden not in text, (script.name, forbidden)


def test_every_console_file_is_served() -> None:
    on_disk = {str(path.relative_to(CONSOLE)) for path in CONSOLE.rglob("*") if path.is_file()}
    assert set(load_assets()) == on_disk  # a file of an unknown type would be left out


def test_the_vendored_layout_library_is_the_pinned_release() -> None:
    pins = json.loads((CONSOLE / "vendor" / "VENDORED.json").read_text())
    for name, pin in pins.items():
        digest = hashlib.sha256((CONSOLE / "vendor" / name).read_bytes()).hexdigest()
        assert digest == pin["sha256"], f"{name} is not {pin['package']}@{pin['version']}"
        for licence in pin["license_files"]:
            assert "Permission is hereby granted" in (CONSOLE / "vendor" / licence).read_text()


def test_segue_dev_prints_the_console_url(capsys: pytest.CaptureFixture[str]) -> None:
    from api.devstack import DevUrls, _announce

    urls = DevUrls(
        api="http://127.0.0.1:8000",
        openapi="http://127.0.0.1:8000/schema/openapi.json",
        temporal="127.0.0.1:7233",
        temporal_ui=None,
        database="postgresql://x",
        demo="http://127.0.0.1:8090/health/<name>",
    )
    _announce(urls, [], Path("/tmp/data"), embedded=False)
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["console", "http://127.0.0.1:8000/"] for line in lines)


# ---------------------------------------------------------------- in the browser


@pytest.fixture
def health_service() -> Iterator[str]:
    """`segue dev`'s demo endpoint: 503 twice, then 200 (per path; a fresh path here)."""
    with demo_service(0) as base:
        yield f"{base}/health/{unique('console')}"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(params=["light", "dark"])
def console(
    request: pytest.FixtureRequest, chromium: Any, harness: Harness
) -> Iterator[tuple[Any, list[str]]]:
    """A page on the console, token given in the prompt; (page, problems seen)."""
    context = chromium.new_context(
        color_scheme=request.param, viewport={"width": 1400, "height": 1000}
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(harness.url + "/", timeout=20_000)
    page.get_by_role("textbox", name="Token").fill(TOKEN)
    page.get_by_role("button", name="Use token").click()
    page.wait_for_selector("#runs", timeout=20_000)
    problems.clear()  # the prompt came from the 401 the page met before it had a token
    try:
        yield page, problems
    finally:
        context.close()


def shot(page: Any, tmp_path: Path, name: str) -> None:
    target = tmp_path / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    print(f"screenshot: {target}")


def node(page: Any, task: str) -> Any:
    return page.locator(f'g.node[data-task="{task}"]')


def wait_status(page: Any, task: str, status: str, timeout: float = 30_000) -> None:
    page.wait_for_selector(f'g.node[data-task="{task}"].status-{status}', timeout=timeout)


@needs_chromium
def test_monitoring_run_lights_up_live(
    harness: Harness, console: tuple[Any, list[str]], health_service: str, tmp_path: Path
) -> None:
    page, problems = console
    name = unique("monitoring")
    harness.register(name, (EXAMPLES / "monitoring.yaml").read_text())
    run_id = harness.start(name, {"url": health_service, "interval": 2, "max_checks": 5})
    page.goto(f"{harness.url}/#/runs/{run_id}")
    page.wait_for_selector("svg.graph g.node", timeout=20_000)
    # Every task is drawn from the start; `report` is not reached yet.
    assert node(page, "report").get_attribute("class").endswith("status-pending")
    wait_status(page, "wait", "running")  # a delay between checks, seen live
    assert "wait: running" in (node(page, "wait").get_attribute("aria-label") or "")
    assert health_service in page.locator("#inspector").inner_text()  # the run's input
    wait_status(page, "report", "succeeded")
    page.wait_for_selector(".badge.run-completed", timeout=20_000)
    # A loop shows its lap count; its inspector lists every execution.
    assert node(page, "check").locator("text.counter").text_content() == "\u00d73"  # x3
    node(page, "check").focus()
    page.keyboard.press("Enter")
    assert page.locator("#inspector .executions li").count() == 3
    assert "iteration 3" in page.locator("#inspector .executions li").nth(2).inner_text()
    assert page.locator("canvas.timeline").evaluate("canvas => canvas.width") > 0
    _edges_say_why_they_were_taken(page)
    # Replay: the scrubber at the first events shows an earlier state.
    page.locator("#scrub").fill("3")
    wait_status(page, "report", "pending")
    assert "(replay)" in page.locator(".run-header").inner_text()
    shot(page, tmp_path, "monitoring-replay")
    page.locator("#scrub").fill(page.locator("#scrub").get_attribute("max") or "0")
    wait_status(page, "report", "succeeded")
    shot(page, tmp_path, "monitoring")
    assert not problems, problems


def _edge(page: Any, source: str, target: str) -> Any:
    return page.locator(f'g.edge-group[data-from="{source}"][data-to="{target}"]')


# The middle of an edge's drawn path, in page coordinates (where a pointer rests on it).
_MIDDLE = """path => {
  const point = path.getPointAtLength(path.getTotalLength() / 2);
  const box = path.ownerSVGElement.getBoundingClientRect();
  const view = path.ownerSVGElement.viewBox.baseVal;
  const scale = [box.width / view.width, box.height / view.height];
  return [box.left + point.x * scale[0], box.top + point.y * scale[1]];
}"""


def _edges_say_why_they_were_taken(page: Any) -> None:
    """TRANSITION events (behaviour 3): taken edges are lit; pointing at one, or moving
    the focus to it, says why - the source execution and what its `when` was."""
    why = page.locator("#edge-why")
    report = _edge(page, "check", "report")
    assert "taken" in (report.locator("path.edge").get_attribute("class") or "")
    x, y = report.locator("path.edge").evaluate(_MIDDLE)
    page.mouse.move(x, y)
    why.wait_for(state="visible", timeout=5_000)
    text = why.inner_text()
    assert "check → report: next[0], taken once, last by check #3" in text, text
    assert "$result.status = 200 was true" in text and "published checks, healthy" in text
    assert "200 was false" not in text  # check #3 is the only one that took it
    page.mouse.move(1, 1)
    why.wait_for(state="hidden", timeout=5_000)
    # The keyboard reaches it too: the loop's edge, taken twice, then not on the last lap.
    loop = _edge(page, "check", "wait")
    loop.focus()
    why.wait_for(state="visible", timeout=5_000)
    text = why.inner_text()
    assert "taken \u00d72, last by check #2" in text, text  # x2
    assert "Since then not taken by check #3" in text and "was false" in text
    assert text in (loop.get_attribute("aria-label") or "")
    loop.blur()


@needs_chromium
def test_approval_is_answered_from_the_page(
    harness: Harness, console: tuple[Any, list[str]], tmp_path: Path
) -> None:
    page, problems = console
    name = unique("approval")
    harness.register(name, (EXAMPLES / "approval.yaml").read_text())
    run_id = harness.start(name)
    page.goto(f"{harness.url}/#/runs/{run_id}?node=approve")
    wait_status(page, "approve", "waiting")
    page.get_by_label("by", exact=True).fill("reviewer-7")  # edges are labelled "... by ..."
    shot(page, tmp_path, "approval-waiting")
    page.get_by_role("button", name="Approve", exact=True).click()
    wait_status(page, "apply", "succeeded")
    page.wait_for_selector(".badge.run-completed", timeout=20_000)
    status = harness.wait_for(run_id)
    assert status["output"] == {"applied": True, "decided_by": "reviewer-7"}
    assert page.locator(".wait-form").count() == 0  # nothing waits any more
    # The run as a simulate case, downloaded from the page.
    with page.expect_download() as download:
        page.get_by_role("button", name="Export case").click()
    case = json.loads(Path(download.value.path()).read_text())
    assert case["expect"]["status"] == "succeeded"
    assert {
        "task": "approve",
        "iteration": 1,
        "result": {"approved": True, "by": "reviewer-7"},
    } in case["mocks"]
    assert not problems, problems


GATED = """\
version: 1
input:
  gate: {type: string}
tasks:
  first:
    action: core.echo
    input: {step: 1}
    next: [{do: guarded}]
  guarded:
    action: test.gate
    input: {gate: <% $ctx.gate %>}
    next: [{when: $succeeded(), do: last}]
  last:
    action: core.echo
    input: {step: 3}
"""


@needs_chromium
def test_a_failed_run_is_rerun_from_the_page(
    harness: Harness, console: tuple[Any, list[str]], tmp_path: Path
) -> None:
    from tests.api.conftest import OPEN_GATES

    page, problems = console
    name = unique("gated")
    gate = unique("gate")
    harness.register(name, GATED)
    run_id = harness.start(name, {"gate": gate})
    page.goto(f"{harness.url}/#/runs/{run_id}")
    wait_status(page, "guarded", "failed")
    page.wait_for_selector(".badge.run-failed", timeout=20_000)
    assert node(page, "last").get_attribute("class").endswith("status-pending")
    # The failed task's error, as the trace has it.
    node(page, "guarded").click()
    assert "gate_closed" in page.locator("#inspector").inner_text()
    OPEN_GATES.add(gate)
    try:
        page.get_by_role("button", name="Rerun failed").click()
        # (wait_for_function would evaluate a string: the page's CSP refuses that.)
        page.wait_for_url(lambda url: "#/runs/" in url and run_id not in url, timeout=20_000)
        wait_status(page, "last", "succeeded")
        page.wait_for_selector(".badge.run-completed", timeout=20_000)
        assert run_id[:12] in page.locator(".run-header").inner_text()  # "rerun of …"
        # `first` succeeded in the failed run: the rerun starts at the failed task.
        assert node(page, "first").get_attribute("class").endswith("status-pending")
        shot(page, tmp_path, "rerun")
        # The two runs side by side, picked in the runs list.
        rerun_id = page.url.split("#/runs/")[1].split("?")[0]
        page.goto(f"{harness.url}/#/runs?workflow={name}")
        for picked in (run_id, rerun_id):
            page.locator(f'tr[data-run="{picked}"] input[type=checkbox]').check()
        page.locator("#compare-link").click()
        row = page.locator('#compare tr[data-task="guarded"]')
        row.wait_for(timeout=20_000)
        cells = row.locator("td")
        assert "failed" in cells.nth(0).inner_text() and "succeeded" in cells.nth(1).inner_text()
        assert "differ" in cells.nth(2).inner_text()
        shot(page, tmp_path, "compare")
        # What the API refuses is shown as its problem JSON (code and detail).
        page.goto(f"{harness.url}/#/runs/no-such-run")
        refusal = page.get_by_role("alert")
        refusal.wait_for(timeout=20_000)
        assert "RUN_NOT_FOUND" in refusal.inner_text()
        assert sum("404" in problem for problem in problems) == 1  # the browser logs it
        problems[:] = [problem for problem in problems if "404" not in problem]
    finally:
        OPEN_GATES.discard(gate)
    assert not problems, problems


def first_render_ms(page: Any, url: str) -> float:
    """Load `url` afresh; milliseconds from navigation start to the graph's first frame."""
    page.goto(url)
    page.reload()
    page.wait_for_selector("svg.graph g.node >> nth=499", state="attached", timeout=60_000)
    page.wait_for_timeout(100)
    mark = page.evaluate(
        "() => performance.getEntriesByName('segue:graph-painted').map(m => m.startTime)"
    )
    assert mark, "the graph was never painted"
    layout = page.evaluate(
        "() => ['segue:layout-start', 'segue:layout-end']"
        ".map(n => performance.getEntriesByName(n).at(-1).startTime)"
    )
    print(f"  layout {layout[1] - layout[0]:.0f} ms, from {layout[0]:.0f} ms to {layout[1]:.0f} ms")
    return float(mark[-1])


RENDER_CEILING_MS = 15_000


@needs_chromium
def test_a_500_task_graph_renders_and_stays_interactive(
    harness: Harness, console: tuple[Any, list[str]], tmp_path: Path
) -> None:
    page, problems = console
    name = unique("layered")
    harness.register(name, layered_workflow(50, 10))
    timings = [first_render_ms(page, f"{harness.url}/#/workflows/{name}") for _ in range(3)]
    print(f"500-task graph, first render: {', '.join(f'{t:.0f}' for t in timings)} ms")
    assert page.locator("svg.graph g.node").count() == 500
    # The 2 s target is measured, not asserted: this command prints the timings
    # (docs/performance.md). The ceiling only catches a hang or a blow-up: at load 11-16
    # on two cores the best of three took up to 2.8 s.
    assert min(timings) < RENDER_CEILING_MS, timings
    node(page, "t49_9").focus()  # still interactive: keyboard selection works
    page.keyboard.press("Enter")
    assert "t49_9" in (page.locator("g.node.selected").get_attribute("data-task") or "")
    shot(page, tmp_path, "layered-500")
    assert not problems, problems


REDUCE_10K = """async () => {
  const { apply, emptyRun } = await import("/console/state.js");
  const events = [];
  const at = (ms) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
  let seq = 0;
  const event = (type, nodeId, data, ms, extra) =>
    ({ id: String(++seq).padStart(12, "0"), type, nodeId, data, timestamp: at(ms), ...extra });
  events.push({ id: String(++seq).padStart(12, "0"), type: "WORKFLOW_STARTED", timestamp: at(0) });
  for (let i = 1; i <= 10000; i += 1) {
    const data = { execution: i, iteration: i, route: 0, attempt: 1 };
    events.push(event("STARTED", "check", data, i * 10));
    events.push(event("COMPLETED", "check", { ...data, status: "succeeded" }, i * 10 + 5,
      { outputSummary: JSON.stringify({ status: 200, i }) }));
  }
  const start = performance.now();
  const state = emptyRun();
  for (const e of events) apply(state, e);
  return { ms: performance.now() - start, executions: state.nodes.get("check").executions.length };
}"""


@needs_chromium
def test_ten_thousand_executions_reduce_in_the_page_quickly(
    harness: Harness, console: tuple[Any, list[str]]
) -> None:
    """The reducer the run page and the replay share, over 20,001 events in Chromium (the
    inspector then shows them 50 per page)."""
    page, problems = console
    measured = page.evaluate(REDUCE_10K)
    print(f"10,000 executions (20,001 events) reduced in {measured['ms']:.0f} ms")
    assert measured["executions"] == 10_000
    assert measured["ms"] < 1000
    assert not problems, problems


HOSTILE = """\
version: 1
description: <img src=x onerror="document.title='owned'"><script>document.title='owned'</script>
vars:
  note: "</code><script>document.title='owned'</script>"
tasks:
  first:
    action: core.echo
    input: {html: "<b onmouseover=alert(1)>bold</b>"}
    next: [{do: second}]
  second:
    action: core.echo
    input: {x: 1}
"""


@needs_chromium
def test_markup_in_a_workflow_stays_text_and_keys_move_between_tasks(
    harness: Harness, console: tuple[Any, list[str]]
) -> None:
    page, problems = console
    name = unique("hostile")
    harness.register(name, HOSTILE)
    run_id = harness.start(name)
    harness.wait_for(run_id)
    page.goto(f"{harness.url}/#/workflows/{name}")
    page.wait_for_selector("svg.graph g.node")
    assert "<script>document.title='owned'</script>" in page.locator("main").inner_text()
    page.goto(f"{harness.url}/#/runs/{run_id}?node=first")
    wait_status(page, "second", "succeeded")
    assert "<b onmouseover=alert(1)>bold</b>" in page.locator("#inspector").inner_text()
    assert page.locator("main b, main img, main script").count() == 0
    assert page.title() == "Segue console"
    # Keyboard: from `first`, the down arrow reaches `second`; Enter opens it.
    node(page, "first").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.locator("#inspector h2").inner_text().startswith("second")
    assert not problems, problems


@needs_chromium
def test_a_wrong_token_is_refused_and_forgotten(chromium: Any, harness: Harness) -> None:
    context = chromium.new_context()
    page = context.new_page()
    try:
        page.goto(harness.url + "/#/runs")
        page.get_by_role("textbox", name="Token").fill("not-the-token")
        page.get_by_role("button", name="Use token").click()
        assert "refused" in page.get_by_role("alert").inner_text()
        # The token lives in this tab's sessionStorage only, never in the address.
        assert page.evaluate("() => sessionStorage.getItem('segue.apiToken')") == "not-the-token"
        assert page.evaluate("() => localStorage.length") == 0
        assert "not-the-token" not in page.url
        page.get_by_role("textbox", name="Token").fill(TOKEN)
        page.get_by_role("button", name="Use token").click()
        page.wait_for_selector("#runs")
        page.get_by_role("button", name="Forget token").click()
        page.get_by_role("textbox", name="Token").wait_for()
        assert page.evaluate("() => sessionStorage.getItem('segue.apiToken')") is None
    finally:
        context.close()


@needs_chromium
def test_without_tokens_segue_dev_style_the_page_asks_nothing(
    chromium: Any,
    dev_api: ServedApp,  # noqa: F811
) -> None:
    context = chromium.new_context()
    page = context.new_page()
    try:
        page.goto(dev_api.url + "/")
        page.wait_for_selector("#runs", timeout=20_000)
        assert page.get_by_role("textbox", name="Token").count() == 0
        assert page.get_by_role("button", name="Forget token").is_hidden()
    finally:
        context.close()


def _open_what_if(page: Any) -> None:
    page.locator("#whatif > summary").click()
    page.wait_for_function(
        "() => document.querySelector('#whatif-mocks').value.length > 2"
        " || document.querySelector('#whatif-input').value.length > 2",
        timeout=20_000,
    )


@needs_chromium
def test_what_if_on_a_run_page(
    harness: Harness, console: tuple[Any, list[str]], health_service: str, tmp_path: Path
) -> None:
    """The monitoring loop checked three times (503, 503, 200); what if the first check
    had answered 200, or every check had failed? Drawn over the graph, listed as
    differences; a broken mocks document is answered with the API's problem JSON."""
    page, problems = console
    name = unique("monitoring")
    harness.register(name, (EXAMPLES / "monitoring.yaml").read_text())
    run_id = harness.start(name, {"url": health_service, "interval": 0, "max_checks": 5})
    harness.wait_for(run_id, timeout=60)
    page.goto(f"{harness.url}/#/runs/{run_id}")
    wait_status(page, "report", "succeeded")
    _open_what_if(page)
    assert '"status": 503' in page.locator("#whatif-mocks").input_value()  # the export
    page.get_by_label("task", exact=True).select_option("check")
    page.get_by_label("start #").fill("1")
    page.get_by_label("start #").dispatch_event("change")
    page.get_by_label("outcome").select_option("status")
    page.get_by_label("HTTP status").fill("200")
    assert page.locator("#whatif-result").is_hidden()  # only the chosen outcome's fields
    page.get_by_role("button", name="Change the mock").click()
    assert json.loads(page.locator("#whatif-mocks").input_value())[0]["result"]["status"] == 200
    page.get_by_role("button", name="Simulate").click()
    page.wait_for_selector("#whatif-status", timeout=20_000)
    assert (
        "would end succeeded (the run: succeeded) · 2 executions"
        in page.locator("#whatif-status").inner_text()
    )
    diff = page.locator("#whatif-diff")
    assert diff.locator('tr[data-task="check"]').inner_text().split("\t")[1:] == [
        "succeeded, 3 executions",
        "succeeded, 1 execution",
    ]
    assert "not reached" in diff.locator('tr[data-task="wait"]').inner_text()
    assert diff.locator('tr[data-task="report"]').count() == 0  # it runs as it did
    # On the graph: its own marks beside the run's colours, and in the words read out.
    assert "shown" in (node(page, "report").locator(".whatif-ring").get_attribute("class") or "")
    assert node(page, "wait").locator(".whatif-badge").text_content() == "if \u25cb"
    assert node(page, "check").get_attribute("class").endswith("status-succeeded")  # the run
    assert "what if: succeeded, 1 execution" in (
        node(page, "check").get_attribute("aria-label") or ""
    )
    ghost = _edge(page, "check", "report").locator(".edge-whatif")
    assert "shown" in (ghost.get_attribute("class") or "")
    assert "shown" not in (
        _edge(page, "check", "wait").locator(".edge-whatif").get_attribute("class") or ""
    )
    assert "What if: taken once" in (
        _edge(page, "check", "report").get_attribute("aria-label") or ""
    )
    shot(page, tmp_path, "what-if")
    # Every check fails instead: the loop gives up after five.
    page.get_by_label("start #").fill("")
    page.get_by_label("outcome").select_option("fail")
    page.get_by_label("message").fill("connection refused")
    page.get_by_role("button", name="Change the mock").click()
    page.get_by_role("button", name="Simulate").click()
    page.wait_for_function(
        "() => (document.querySelector('#whatif-status') || {}).textContent?.includes('failed')",
        timeout=20_000,
    )
    assert page.locator('#whatif-diff tr[data-task="(run status)"]').count() == 1
    assert "failed, 5 executions" in page.locator('#whatif-diff tr[data-task="check"]').inner_text()
    assert "not reached" in page.locator('#whatif-diff tr[data-task="report"]').inner_text()
    # A mocks document the simulator cannot read: the API's problem, as it gave it.
    page.locator("#whatif-mocks").fill('[{"task": "check", "when": true}]')
    page.get_by_role("button", name="Simulate").click()
    refusal = page.locator("#whatif-result-box [role=alert]")
    refusal.wait_for(timeout=20_000)
    assert (
        "MOCKS_INVALID" in refusal.inner_text() and "unknown keys ['when']" in refusal.inner_text()
    )
    assert sum("422" in problem for problem in problems) == 1  # the browser logs it
    problems[:] = [problem for problem in problems if "422" not in problem]
    page.get_by_role("button", name="Clear the what-if").click()
    assert "shown" not in (ghost.get_attribute("class") or "")
    assert not problems, problems


@needs_chromium
def test_what_if_on_a_workflow_page(harness: Harness, console: tuple[Any, list[str]]) -> None:
    """Before any run: unmocked, an http.request succeeds with null, so the monitoring
    loop never sees a 200 and gives up after max_checks."""
    page, problems = console
    name = unique("monitoring")
    harness.register(name, (EXAMPLES / "monitoring.yaml").read_text())
    page.goto(f"{harness.url}/#/workflows/{name}")
    page.wait_for_selector("svg.graph g.node")
    page.locator("#run-input").fill('{"max_checks": 3}')
    _open_what_if(page)
    page.get_by_role("button", name="Simulate").click()
    page.wait_for_selector("#whatif-status", timeout=20_000)
    assert "would end failed" in page.locator("#whatif-status").inner_text()
    assert (
        "succeeded, 3 executions" in page.locator('#whatif-diff tr[data-task="check"]').inner_text()
    )
    assert node(page, "report").locator(".whatif-badge").text_content() == "if \u25cb"
    assert not problems, problems


TALKING = """\
version: 1
input:
  password: {type: string, secret: true}
tasks:
  login:
    action: test.login
    input: {user: ada, password: <% $ctx.password %>}
    next: [{do: talk}]
  talk:
    action: shell.run
    input:
      argv:
        - python3
        - -u
        - -c
        - |
          import time
          for i in range(1, 251):
              print(f'line {i}')
          time.sleep(10)
          print('last line')
"""


@needs_chromium
def test_an_executions_log_lines_in_the_inspector(
    harness: Harness, console: tuple[Any, list[str]]
) -> None:
    """Paged (200 lines, then the next page on request), live while the attempt runs
    (the last line arrives over the log stream), masked as the API masks them."""
    page, problems = console
    name = unique("talking")
    harness.register(name, TALKING)
    run_id = harness.start(name, {"password": "hunter2-secret"})
    # Every line before the pause is stored before the page opens, so its first page is full
    # (opened earlier, it would follow the rest live at once: right, but not paging).
    deadline = time.monotonic() + 30
    while (
        len(harness.client.get(f"/runs/{run_id}/logs", params={"task": "talk"}).json()["logs"])
        < 250
    ):
        assert time.monotonic() < deadline, "the lines never arrived"
        time.sleep(0.2)
    page.goto(f"{harness.url}/#/runs/{run_id}?node=talk")
    lines = page.locator("#log-lines li")
    page.wait_for_function(  # the first page holds 200 lines once all 250 are printed
        "() => document.querySelectorAll('#log-lines li').length === 200", timeout=20_000
    )
    assert lines.nth(0).locator(".message").inner_text() == "line 1"
    page.get_by_role("button", name="Show the next 200 lines").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#log-lines li').length === 250", timeout=20_000
    )
    assert "status-running" in (node(page, "talk").get_attribute("class") or "").split()
    page.wait_for_selector("#log-state >> text=live", timeout=10_000)
    # Printed ten seconds later, while the page follows: it arrives without a reload.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#log-lines .message')]"
        ".some(m => m.textContent === 'last line')",
        timeout=20_000,
    )
    wait_status(page, "talk", "succeeded")
    page.wait_for_selector("#log-state >> text=251 lines", timeout=20_000)
    # Another execution: its own lines, the secret input masked as stored.
    node(page, "login").click()
    page.wait_for_selector("#log-lines li", timeout=20_000)
    text = page.locator("#log-lines").inner_text()
    assert "logging in as ada with ***" in text and "hunter2-secret" not in text
    assert not problems, problems


@needs_chromium
def test_validation_findings_are_marked_on_the_graph_of_a_pasted_file(
    harness: Harness, console: tuple[Any, list[str]], tmp_path: Path
) -> None:
    from tests.api.test_validation_graph import BROKEN

    page, problems = console
    page.goto(f"{harness.url}/#/workflows")
    page.locator("#paste").fill(BROKEN)
    page.get_by_role("button", name="Validate").click()
    graph = page.locator("#validate-graph")
    graph.locator("g.node").nth(2).wait_for(timeout=20_000)

    def finding(task: str) -> Any:
        return graph.locator(f'g.node[data-task="{task}"]')

    assert "has-finding" in (finding("second").get_attribute("class") or "")
    label = finding("second").get_attribute("aria-label") or ""
    assert (
        label.startswith("second: 2 findings: error line 9:") and "no task named 'missing'" in label
    )
    assert finding("second").locator("text.counter").text_content() == "\u26a0 2"
    assert "has-finding" in (finding("first").get_attribute("class") or "")
    assert "has-finding" not in (finding("third").get_attribute("class") or "")
    assert "(task second)" in page.locator("main").inner_text()  # in the list too
    assert page.locator("#line-9.marked").count() == 1  # and on the lines
    # The keyboard reaches a marked task; Enter brings its first finding's line into view.
    finding("second").focus()
    page.keyboard.press("Enter")
    assert "selected" in (finding("second").get_attribute("class") or "")
    shot(page, tmp_path, "validate-graph")
    assert not problems, problems
