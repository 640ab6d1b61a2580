"""The real Temporal UI (served by Temporal's dev server, not headless) shows a run's
decoded input in a real browser (Debian's chromium driven by Playwright) once the user
has signed in to Segue's console — the codec session cookie — and shows ciphertext to a
browser without a session or with a forged one. Pages of other origins cannot read
decoded payloads even from the signed-in browser."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.app import create_app
from api.config import ApiConfig
from api.sessions import COOKIE_NAME
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.temporal.activities import SegueActivities
from engine.temporal.codec import CodecKeys, data_converter
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.devserver import DevServer, start_dev_server
from engine.temporal.worker import build_worker, connect
from tests.api.conftest import TOKEN, ServedApp
from tests.api.test_browsers import CHROMIUM, CHROMIUM_ARGS
from tests.support.temporal import start_interpreter

pytestmark = [
    pytest.mark.temporal,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed"),
]

KEYS = CodecKeys.parse(f"ui:{base64.b64encode(b'u' * 32).decode()}")
# What the UI (2.54) shows when the codec endpoint refuses: this, and the ciphertext.
REFUSED = "Codec Server could not connect"
FLOW = """\
version: 1
input:
  greeting: {type: string}
tasks:
  echo:
    action: core.echo
    input: {said: <% $ctx.greeting %>}
"""


@dataclass
class Stack:
    ui: str  # the Temporal UI's origin
    api: str  # Segue's API (its console, /session and /codec/)
    run_id: str
    marker: str  # the run's input, only ever stored encrypted
    sealed: str  # the run's start input as Temporal keeps it, as the UI sends it to decode

    @property
    def run_page(self) -> str:
        return f"{self.ui}/namespaces/default/workflows/{self.run_id}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Stack]:
    """A dev server with its UI, one run sealed with KEYS, and the API over them."""
    directory: Path = tmp_path_factory.mktemp("temporal-ui")
    server: DevServer = start_dev_server(
        db_file=directory / "temporal.db", ui=True, log_path=directory / "server.log"
    )
    try:
        marker = f"decoded-in-the-ui-{uuid.uuid4().hex[:8]}"
        run_id, sealed = asyncio.run(_sealed_run(server.address, marker))
        assert server.ui_url is not None
        config = ApiConfig(
            database_url=postgres_url,
            temporal_address=server.address,
            tokens=(TOKEN,),
            codec_keys=KEYS,
            temporal_ui_origin=server.ui_url,
        )
        served = ServedApp(create_app(config, catalog=ActionCatalog(builtin_actions())))
        served.start()
        try:
            yield Stack(server.ui_url, served.url, run_id, marker, sealed)
        finally:
            served.stop()
    finally:
        server.stop()


async def _sealed_run(address: str, marker: str) -> tuple[str, str]:
    """A finished run whose input is `marker`; its id and its start input, still sealed
    (read without the codec), as `{"payloads": [...]}` JSON."""
    client = await connect(address, data_converter=data_converter(KEYS))
    queue = f"codec-ui-{uuid.uuid4().hex[:8]}"
    activities = SegueActivities(ActionCatalog(builtin_actions()))
    async with build_worker(client, activities, task_queue=queue):
        handle = await start_interpreter(client, queue, FLOW, {"greeting": marker}, name="ui")
        await handle.result()
    raw = await connect(address, data_converter=DATA_CONVERTER)
    history = await raw.get_workflow_handle(handle.id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input
    assert marker.encode() not in started.SerializeToString()
    sealed = json_format.MessageToJson(Payloads(payloads=list(started.payloads)), indent=None)
    return handle.id, sealed


def _ui_codec_settings(stack: Stack) -> str:
    """What the UI's "Codec Server" dialog stores in the browser (per browser): the
    endpoint, "include cross-origin credentials", and "use my browser's setting"."""
    endpoint = json.dumps(f"{stack.api}/codec/")
    return f"""if (location.origin === {json.dumps(stack.ui)}) {{
  localStorage.setItem("endpoint", JSON.stringify({endpoint}));
  localStorage.setItem("includeCredentials", "true");
  localStorage.setItem("overrideRemoteCodecConfiguration", "true");
}}"""


def _open_run_page(context: Any, stack: Stack, shows: str) -> tuple[str, list[int]]:
    """The run's page in the UI once it has asked the codec endpoint and shows `shows`:
    the page's whole HTML (hidden parts too), and the statuses of the codec answers."""
    page = context.new_page()
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/codec/" in r.url else None)
    with page.expect_response(lambda r: "/codec/" in r.url and "decode" in r.url, timeout=60_000):
        page.goto(stack.run_page, timeout=60_000)
    page.wait_for_function(
        "text => document.body.innerText.includes(text)", arg=shows, timeout=60_000
    )
    html: str = page.content()
    page.close()
    return html, statuses


def test_the_ui_shows_decoded_input_after_signing_in_to_segue(stack: Stack) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # Signed in: the console's token form, which also gets the codec session.
            signed_in = browser.new_context()
            signed_in.add_init_script(_ui_codec_settings(stack))
            console = signed_in.new_page()
            console.goto(f"{stack.api}/", timeout=60_000)
            console.fill("#token", TOKEN, timeout=60_000)
            with console.expect_response(lambda r: r.url.endswith("/session")) as answer:
                console.click("text=Use token")
            assert answer.value.status == 200
            cookie = next(c for c in signed_in.cookies() if c["name"] == COOKIE_NAME)
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert cookie["path"] == "/codec/"
            html, statuses = _open_run_page(signed_in, stack, shows=stack.marker)
            assert statuses and set(statuses) == {200}

            # Not signed in, or with a forged cookie: the codec refuses, the UI shows no
            # decoded value.
            for forged in (None, f"v1.9999999999.{'A' * 22}.{'A' * 43}"):
                stranger = browser.new_context()
                stranger.add_init_script(_ui_codec_settings(stack))
                if forged:
                    stranger.add_cookies(
                        [{"name": COOKIE_NAME, "value": forged, "url": f"{stack.api}/codec/"}]
                    )
                html, statuses = _open_run_page(stranger, stack, shows=REFUSED)
                assert stack.marker not in html and statuses and set(statuses) == {401}
                stranger.close()
            signed_in.close()
        finally:
            browser.close()


def _reader_page(endpoint: str, body: str) -> bytes:
    """A page that asks the codec endpoint to decode, with the browser's cookies, as the
    UI does, and puts what it could read in its title."""
    return f"""<!doctype html><html><body><script>
fetch({json.dumps(endpoint)}, {{method: "POST", credentials: "include",
  headers: {{"Content-Type": "application/json", "X-Namespace": "default"}},
  body: {json.dumps(body)}}})
  .then(r => r.text()).then(t => {{ document.title = "read " + t; }})
  .catch(e => {{ document.title = "blocked " + e; }});
</script></body></html>""".encode()


@pytest.fixture
def other_origins(stack: Stack) -> Iterator[list[str]]:
    """The reading page on two other origins: another site (127.0.0.2) and, closer, another
    port of the API's own host (127.0.0.1), to which SameSite still sends the cookie."""
    page = _reader_page(f"{stack.api}/codec/decode", stack.sealed)

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    servers = [ThreadingHTTPServer((host, 0), Page) for host in ("127.0.0.2", "127.0.0.1")]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield [f"http://{s.server_address[0]}:{s.server_address[1]}/" for s in servers]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_other_origins_cannot_read_decoded_payloads(stack: Stack, other_origins: list[str]) -> None:
    """In the signed-in browser, a page of any origin but the UI's asks the codec endpoint
    with the cookie, as the UI does: CORS keeps the answer from it. The same request from
    the UI's origin reads the payload, so the refusal is the origin's, not the request's."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            console = context.new_page()
            console.goto(f"{stack.api}/", timeout=60_000)
            console.fill("#token", TOKEN, timeout=60_000)
            with console.expect_response(lambda r: r.url.endswith("/session")) as answer:
                console.click("text=Use token")
            assert answer.value.status == 200
            for url in other_origins:
                page = context.new_page()
                page.goto(url, timeout=60_000)
                page.wait_for_function("document.title !== ''", timeout=60_000)
                assert page.title().startswith("blocked"), (url, page.title()[:200])
                page.close()
            # The UI's own origin, same request: it reads the decoded input.
            ui = context.new_page()
            ui.goto(stack.ui, timeout=60_000)
            text = ui.evaluate(
                """async ([url, body]) => {
                  const r = await fetch(url, {method: "POST", credentials: "include",
                    headers: {"Content-Type": "application/json"}, body});
                  return await r.text();
                }""",
                [f"{stack.api}/codec/decode", stack.sealed],
            )
            decoded = json.loads(text)
            data = base64.b64decode(decoded["payloads"][0]["data"])
            assert stack.marker.encode() in data
            context.close()
        finally:
            browser.close()
