"""A page from another origin, in a real browser (Debian's chromium driven by
Playwright), against the API as `segue dev` serves it: authentication off, loopback.
Cross-site writes and a rebound host name must be refused."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.browsers import host_allowed, host_name
from api.config import ApiConfig
from tests.api.conftest import Harness, ServedApp, api_catalog, unique
from tests.api.test_workflows import CHAIN, problem

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # evil.example is this machine, as a rebinding attacker's DNS would say.
    "--host-resolver-rules=MAP evil.example 127.0.0.1",
]


@pytest.fixture(scope="module")
def dev_api(harness: Harness) -> Iterator[ServedApp]:
    """The API without authentication, as `segue dev` runs it."""
    config = ApiConfig(
        database_url=harness.database_url,
        temporal_address=harness.temporal_address,
        task_queue=harness.task_queue,
        auth_disabled=True,
    )
    served = ServedApp(create_app(config, catalog=api_catalog()))
    served.start()
    try:
        yield served
    finally:
        served.stop()


def _attacker_page(api: str, name: str) -> bytes:
    """A page that tries every write a browser sends cross-site without asking."""
    yaml_text = json.dumps(CHAIN)
    return f"""<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink"
      action="{api}/workflows?name={name}-form">
  <input name="version: 1&#10;x" value="y">
</form>
<script>
const api = {json.dumps(api)};
async function attack() {{
  const results = {{}};
  try {{
    await fetch(api + "/workflows?name={name}", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "text/plain"}}, body: {yaml_text}}});
    results.textPlain = "sent";
  }} catch (e) {{ results.textPlain = "blocked: " + e; }}
  try {{
    await fetch(api + "/workflows?name={name}-blob", {{method: "POST", mode: "no-cors",
      body: new Blob([{yaml_text}])}});
    results.blob = "sent";
  }} catch (e) {{ results.blob = "blocked: " + e; }}
  try {{
    const r = await fetch(api + "/workflows?name={name}-json", {{method: "POST",
      headers: {{"Content-Type": "application/yaml"}}, body: {yaml_text}}});
    results.yaml = "status " + r.status;
  }} catch (e) {{ results.yaml = "blocked: " + e; }}
  document.getElementById("f").submit();
  document.title = "done " + JSON.stringify(results);
}}
attack();
</script></body></html>""".encode()


@pytest.fixture
def attacker(dev_api: ServedApp) -> Iterator[tuple[str, str]]:
    """A second origin (127.0.0.2) serving the attacker's page; (its URL, the name)."""
    name = unique("csrf")
    page = _attacker_page(dev_api.url, name)

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.2", 0), Page)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}/", name
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")
def test_a_cross_site_page_cannot_write_or_read(
    dev_api: ServedApp, attacker: tuple[str, str]
) -> None:
    from playwright.sync_api import sync_playwright

    page_url, name = attacker
    statuses: dict[str, int] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on(
                "response",
                lambda r: statuses.setdefault(r.request.url.split("name=")[-1], r.status),
            )
            page.goto(page_url, timeout=20_000)
            page.wait_for_function("document.title.startsWith('done')", timeout=20_000)
            page.wait_for_timeout(500)  # the form's navigation
            # DNS rebinding: the page's own name now points at the API.
            rebound = page.goto(f"http://evil.example:{dev_api.port}/workflows", timeout=20_000)
            assert rebound is not None and rebound.status == 400
            assert "HOST_NOT_ALLOWED" in rebound.text()
        finally:
            browser.close()
    # Nothing was registered, whatever the browser was able to send.
    for suffix in ("", "-blob", "-json", "-form"):
        answer = httpx.get(f"{dev_api.url}/workflows/{name}{suffix}", timeout=10)
        assert answer.status_code == 404, (suffix, answer.text)
    assert statuses.get(name) == 403 and statuses.get(f"{name}-blob") == 403
    assert statuses.get(f"{name}-form") == 403
    # The YAML request needs a preflight, which the API never grants: never sent.
    assert f"{name}-json" not in statuses or statuses[f"{name}-json"] in (403, 405)


def test_writes_need_a_structured_content_type_or_a_marker(dev_api: ServedApp) -> None:
    name = unique("marker")
    url = f"{dev_api.url}/workflows"
    plain = httpx.post(
        url, params={"name": name}, content=CHAIN, headers={"Content-Type": "text/plain"}
    )
    problem(plain, 415, "UNSUPPORTED_MEDIA_TYPE")
    problem(httpx.post(url, params={"name": name}, content=CHAIN), 415, "UNSUPPORTED_MEDIA_TYPE")
    marked = httpx.post(
        url,
        params={"name": name},
        content=CHAIN,
        headers={"Content-Type": "text/plain", "X-Segue-Client": "1"},
    )
    assert marked.status_code == 201, marked.text
    yaml = httpx.post(
        url,
        params={"name": name},
        content=CHAIN,
        headers={"Content-Type": "application/yaml", "Origin": dev_api.url},
    )
    assert yaml.status_code == 200, yaml.text  # same origin (the console)
    foreign = httpx.post(
        url,
        params={"name": name},
        content=CHAIN,
        headers={"Content-Type": "application/yaml", "Origin": "http://127.0.0.2:9"},
    )
    problem(foreign, 403, "ORIGIN_NOT_ALLOWED")


def test_hosts_outside_the_allow_list_are_refused(dev_api: ServedApp) -> None:
    rebound = httpx.get(f"{dev_api.url}/workflows", headers={"Host": "evil.example"})
    problem(rebound, 400, "HOST_NOT_ALLOWED")
    assert httpx.get(f"{dev_api.url}/workflows", headers={"Host": "localhost:1"}).is_success
    assert host_name("[::1]:8000") == "[::1]" and host_name("Example.COM.:80") == "example.com"
    assert host_allowed("api.internal.example", ["*.internal.example"])
    assert not host_allowed("", ["*"])
    config = ApiConfig.from_env(
        {
            "SEGUE_API_TOKEN": "x" * 32,
            "SEGUE_API_ALLOWED_HOSTS": "segue.example.com",
            "SEGUE_API_ALLOWED_ORIGINS": "https://console.example.com/",
        }
    )
    assert config.allowed_hosts == ("segue.example.com",)
    assert config.allowed_origins == ("https://console.example.com",)
    with TestClient(create_app(config), base_url="http://segue.example.com") as client:
        assert client.get("/health", headers={"Host": "other.example"}).status_code == 400
