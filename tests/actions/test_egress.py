"""The egress policy of `http.request`, against real listeners on loopback playing the
"internal services" a workflow must not reach."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.actions import ActionCatalog, ActionContext, egress
from engine.actions.egress import EgressPolicy, Endpoint, parse_ip_literal
from tests.actions.test_http import failure as refused
from tests.actions.test_http import request as run

CATALOG = ActionCatalog.builtin()


class _Internal(BaseHTTPRequestHandler):
    """`/go?to=URL[&status=N]` redirects; anything else answers with what it received."""

    server: _Listener

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        query = parse_qs(urlsplit(self.path).query)
        if self.path.startswith("/go"):
            self.send_response(int(query.get("status", ["302"])[0]))
            self.send_header("Location", query.get("to", ["/go"])[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"secret": "internal", "headers": self.server.seen[-1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


class _Listener(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), _Internal)
        self.seen: list[dict[str, str]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def _listen(host: str) -> Iterator[_Listener]:
    server = _Listener(host)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def internal() -> Iterator[_Listener]:
    yield from _listen("127.0.0.1")


@pytest.fixture
def other() -> Iterator[_Listener]:
    """A second origin (127.0.0.2 is loopback too on Linux)."""
    yield from _listen("127.0.0.2")


@pytest.fixture(autouse=True)
def default_policy() -> Iterator[None]:
    """The policy of a deployment with nothing configured (the suite opens loopback)."""
    egress.configure(EgressPolicy.from_env({}))
    yield
    egress.configure(None)


SPELLINGS = [
    ("127.0.0.1", "127.0.0.1", "loopback"),
    ("0x7f000001", "127.0.0.1", "loopback"),
    ("2130706433", "127.0.0.1", "loopback"),
    ("017700000001", "127.0.0.1", "loopback"),
    ("127.1", "127.0.0.1", "loopback"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1", "loopback (as IPv6"),
    ("[::ffff:7f00:1]", "::ffff:7f00:1", "loopback (as IPv6"),
    ("[::127.0.0.1]", "::7f00:1", "loopback (as IPv6"),
    ("[64:ff9b::a00:1]", "64:ff9b::a00:1", "private (as IPv6"),
    ("[2002:a9fe:a9fe::]", "2002:a9fe:a9fe::", "link-local (as IPv6"),
    ("[::1]", "::1", "loopback"),
    ("0.0.0.0", "0.0.0.0", "unspecified"),
    ("0", "0.0.0.0", "unspecified"),
    ("[::]", "::", "unspecified"),
    ("169.254.169.254", "169.254.169.254", "link-local"),
    ("10.1.2.3", "10.1.2.3", "private"),
    ("172.16.0.1", "172.16.0.1", "private"),
    ("192.168.1.1", "192.168.1.1", "private"),
    ("100.64.0.1", "100.64.0.1", "CGNAT"),
    ("[fc00::1]", "fc00::1", "unique-local"),
    ("[fd12::1]", "fd12::1", "unique-local"),
    ("[fe80::1]", "fe80::1", "link-local"),
    ("224.0.0.1", "224.0.0.1", "multicast"),
    ("[ff02::1]", "ff02::1", "multicast"),
    ("localhost", "127.0.0.1", "loopback"),
]


@pytest.mark.parametrize(("host", "address", "rule"), SPELLINGS)
def test_internal_addresses_are_denied_in_every_spelling(
    host: str, address: str, rule: str, internal: _Listener, context: ActionContext
) -> None:
    url = f"http://{host}:{internal.port}/metadata"
    error = refused({"url": url}, context)
    assert error.type == "egress_denied"
    assert host.strip("[]") in error.message
    if host != "localhost":  # localhost may resolve to ::1 first
        assert f"({address})" in error.message
    assert rule in error.message
    assert "Traceback" not in error.message and "traceback" not in (error.details or {})
    assert internal.seen == []


def test_dotted_octal_is_refused_before_any_connection(
    internal: _Listener, context: ActionContext
) -> None:
    error = refused({"url": f"http://0177.0.0.1:{internal.port}/"}, context)
    assert error.type == "invalid_input"  # httpx itself rejects this spelling
    assert internal.seen == []


def test_numeric_forms_parse_like_inet_aton() -> None:
    assert str(parse_ip_literal("0x7f.1")) == "127.0.0.1"
    assert str(parse_ip_literal("10.0x10.1")) == "10.16.0.1"
    assert parse_ip_literal("1.2.3.4.5") is None
    assert parse_ip_literal("256.1.1.1") is None
    assert parse_ip_literal("example.com") is None
    assert parse_ip_literal("08.1.1.1") is None  # 8 is not an octal digit


def test_allow_list_opens_cidrs_and_host_patterns(
    internal: _Listener, context: ActionContext
) -> None:
    egress.configure(EgressPolicy.from_env({"SEGUE_EGRESS_ALLOW": "127.0.0.1/32"}))
    assert run({"url": f"http://127.0.0.1:{internal.port}/"}, context)["status"] == 200
    assert refused({"url": f"http://127.0.0.2:{internal.port}/"}, context).type == "egress_denied"
    egress.configure(EgressPolicy.from_env({"SEGUE_EGRESS_ALLOW": "*.internal.example,localhost"}))
    assert run({"url": f"http://localhost:{internal.port}/"}, context)["status"] == 200
    policy = egress.current_policy()
    assert policy.host_allowed("db.internal.example") and policy.host_allowed("LOCALHOST.")
    assert not policy.host_allowed("internal.example.evil.test")


def test_own_services_stay_closed_even_when_allowed(
    internal: _Listener, context: ActionContext
) -> None:
    egress.configure(
        EgressPolicy.from_env(
            {
                "SEGUE_EGRESS_ALLOW": "127.0.0.0/8",
                "SEGUE_TEMPORAL_ADDRESS": f"localhost:{internal.port}",
            }
        )
    )
    error = refused({"url": f"http://127.0.0.1:{internal.port}/api/v1/namespaces"}, context)
    assert error.type == "egress_denied"
    assert f"own service localhost:{internal.port}" in error.message
    policy = EgressPolicy.from_env({"SEGUE_DATABASE_URL": "postgresql://u:p@db.local:6543/x"})
    assert Endpoint("db.local", 6543) in policy.own


def test_a_redirect_into_an_internal_address_is_refused(
    internal: _Listener, other: _Listener, context: ActionContext
) -> None:
    egress.configure(EgressPolicy.from_env({"SEGUE_EGRESS_ALLOW": "127.0.0.2/32"}))
    target = f"http://0x7f000001:{internal.port}/secret"
    error = refused({"url": f"http://127.0.0.2:{other.port}/go?to={target}"}, context)
    assert error.type == "egress_denied"
    assert "(127.0.0.1)" in error.message
    assert len(other.seen) == 1 and internal.seen == []


def test_credentials_never_follow_a_cross_origin_redirect(
    internal: _Listener, other: _Listener, context: ActionContext
) -> None:
    egress.configure(EgressPolicy.from_env({"SEGUE_EGRESS_ALLOW": "127.0.0.0/8"}))
    credentials = {
        "Authorization": "Bearer t0ken",
        "Cookie": "session=s3",
        "X-Api-Key": "k3y",
        "X-Vault-Token": "v4ult",
        "X-Plain": "kept",
    }
    here = f"http://127.0.0.1:{internal.port}"
    same = run(
        {
            "url": f"{here}/go?to=/echo",
            "headers": credentials,
            "sensitive_headers": ["x-vault-token"],
        },
        context,
    )
    assert same["json"]["headers"]["x-api-key"] == "k3y"  # same origin: kept
    assert same["json"]["headers"]["authorization"] == "Bearer t0ken"
    away = f"http://127.0.0.2:{other.port}/echo"
    crossed = run(
        {
            "url": f"{here}/go?to={away}",
            "headers": credentials,
            "sensitive_headers": ["X-Vault-Token"],
        },
        context,
    )
    seen = crossed["json"]["headers"]
    assert seen["x-plain"] == "kept"
    for name in ("authorization", "cookie", "x-api-key", "x-vault-token"):
        assert name not in seen
    # URL userinfo becomes Basic auth on the first hop only.
    with_userinfo = f"http://user:pw@127.0.0.1:{internal.port}"
    kept = run({"url": f"{with_userinfo}/go?to=/echo"}, context)["json"]["headers"]
    assert kept["authorization"].startswith("Basic ")
    basic = run({"url": f"{with_userinfo}/go?to={away}"}, context)["json"]["headers"]
    assert "authorization" not in basic


def test_redirect_chains_are_bounded(internal: _Listener, context: ActionContext) -> None:
    egress.configure(EgressPolicy.from_env({"SEGUE_EGRESS_ALLOW": "127.0.0.1/32"}))
    loop = f"http://127.0.0.1:{internal.port}/go"
    error = refused({"url": loop}, context)
    assert error.type == "http_error" and "redirects" in error.message


def test_a_name_is_resolved_once_and_every_address_checked(
    internal: _Listener, context: ActionContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the first answer passes, later answers would not; the request goes
    to the checked address, with the name in the Host header."""
    answers = [["127.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]]
    calls: list[str] = []
    real = asyncio.AbstractEventLoop.getaddrinfo

    async def fake(self: Any, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return await real(self, host, port, *args, **kwargs)
        calls.append(host)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in answers[len(calls) - 1]
        ]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", fake)
    egress.configure(EgressPolicy.from_env({"SEGUE_EGRESS_ALLOW": "127.0.0.0/8"}))
    result = run({"url": f"http://rebind.test:{internal.port}/"}, context)
    assert result["json"]["headers"]["host"] == f"rebind.test:{internal.port}"
    assert calls == ["rebind.test"]
    answers[1] = ["127.0.0.1", "10.0.0.1"]  # one good, one internal: refused
    error = refused({"url": f"http://rebind.test:{internal.port}/"}, context)
    assert error.type == "egress_denied" and "(10.0.0.1)" in error.message


def test_errors_are_redacted_and_carry_no_traceback(context: ActionContext) -> None:
    egress.configure(EgressPolicy.from_env({"SEGUE_EGRESS_ALLOW": "127.0.0.1/32"}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://alice:hunter2@127.0.0.1:{port}/x?token=abc123&page=2"
    error = refused({"url": url}, context)
    assert error.type == "http_error"
    shown = f"http://***@127.0.0.1:{port}/x?token=***&page=***"
    assert error.message.startswith(f"GET {shown} failed: ")
    assert "hunter2" not in str(error.details) and "abc123" not in error.message
    bad_header = refused(
        {"url": f"http://127.0.0.1:{port}/?k=s3cret", "headers": {"X-Name": "héllo ☃"}}, context
    )
    assert bad_header.type == "invalid_input"
    assert "s3cret" not in bad_header.message
    assert "traceback" not in (bad_header.details or {})
    denied = refused({"url": "http://u:pw@10.0.0.1/?t=x"}, context)
    assert denied.type == "egress_denied" and "pw" not in denied.message


def test_segue_dev_opens_loopback_but_not_its_own_services(
    internal: _Listener, context: ActionContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.devstack import DevSettings, dev_egress_policy
    from engine.temporal.devserver import DevServer

    monkeypatch.delenv("SEGUE_EGRESS_ALLOW", raising=False)
    settings = DevSettings(data_dir=None, workflows_dir=None, temporal_http_port=7243)  # type: ignore[arg-type]
    temporal = DevServer(process=None, port=internal.port, ui_port=8233, log_path=None)  # type: ignore[arg-type]
    policy = dev_egress_policy(settings, temporal, "postgresql://p@127.0.0.1:5432/s", 8000)
    assert policy.allows_loopback
    egress.configure(policy)
    error = refused({"url": f"http://localhost:{internal.port}/"}, context)
    assert "own service 127.0.0.1" in error.message
    with _Listener("127.0.0.1") as demo:
        thread = threading.Thread(target=demo.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        assert run({"url": f"http://127.0.0.1:{demo.port}/"}, context)["status"] == 200
        demo.shutdown()
    assert refused({"url": "http://10.0.0.1/"}, context).type == "egress_denied"
