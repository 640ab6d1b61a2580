"""`http.request` against a real local HTTP server."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from engine.actions import ActionCatalog, ActionContext, ActionError, invoke

CATALOG = ActionCatalog.builtin()


def request(input: dict[str, Any], context: ActionContext) -> Any:
    return asyncio.run(invoke(CATALOG, "http.request", input, context))


def failure(input: dict[str, Any], context: ActionContext) -> ActionError:
    with pytest.raises(ActionError) as caught:
        request(input, context)
    return caught.value


def test_get_json(http_server: str, context: ActionContext) -> None:
    result = request({"url": f"{http_server}/echo"}, context)
    assert result["status"] == 200
    assert result["headers"]["content-type"] == "application/json"
    assert result["headers"]["x-served-by"] == "Tests"  # keys lower-case, values as sent
    assert result["json"]["method"] == "GET"
    assert "text" not in result
    assert result["json"]["headers"]["user-agent"].startswith("segue")


def test_post_json_body(http_server: str, context: ActionContext) -> None:
    payload = {"name": "ada", "tags": [1, 2], "nested": {"ok": True}}
    result = request({"method": "post", "url": f"{http_server}/items", "json": payload}, context)
    assert result["json"]["method"] == "POST"
    assert result["json"]["json"] == payload


def test_string_body(http_server: str, context: ActionContext) -> None:
    result = request(
        {
            "method": "PUT",
            "url": f"{http_server}/raw",
            "body": "plain words",
            "headers": {"Content-Type": "text/plain"},
        },
        context,
    )
    assert result["json"]["body"] == "plain words"


def test_query_and_headers(http_server: str, context: ActionContext) -> None:
    result = request(
        {
            "url": f"{http_server}/search",
            "query": {"q": "disk full", "page": 2, "tag": ["a", "b"], "exact": True},
            "headers": {"X-Token": "abc", "User-Agent": "mine"},
        },
        context,
    )
    seen = result["json"]
    assert seen["query"] == {
        "q": ["disk full"],
        "page": ["2"],
        "tag": ["a", "b"],
        "exact": ["true"],
    }
    assert seen["headers"]["x-token"] == "abc"
    assert seen["headers"]["user-agent"] == "mine"


def test_non_2xx_status_is_a_result(http_server: str, context: ActionContext) -> None:
    result = request({"url": f"{http_server}/text?status=503"}, context)
    assert result["status"] == 503
    assert result["text"] == "service unavailable"
    assert "json" not in result and "truncated" not in result


def test_expect_status_fails_the_attempt(http_server: str, context: ActionContext) -> None:
    error = failure({"url": f"{http_server}/text?status=503", "expect_status": [200, 204]}, context)
    assert error.type == "http_status"
    assert "503" in error.message and "/text" in error.message
    assert error.details["status"] == 503
    assert error.details["text"] == "service unavailable"


def test_expect_status_met(http_server: str, context: ActionContext) -> None:
    result = request({"url": f"{http_server}/echo?status=201", "expect_status": [201]}, context)
    assert result["status"] == 201


def test_redirects_are_followed(http_server: str, context: ActionContext) -> None:
    assert request({"url": f"{http_server}/redirect"}, context)["json"]["path"] == "/echo"
    unfollowed = request({"url": f"{http_server}/redirect", "follow_redirects": False}, context)
    assert unfollowed["status"] == 302


def test_connection_refused(context: ActionContext) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/health"
    error = failure({"url": url}, context)
    assert error.type == "http_error"
    assert error.message.startswith(f"GET {url} failed: ")
    assert "Connection refused" in error.message
    assert error.details == {"method": "GET", "url": url}


def test_timeout(http_server: str, context: ActionContext) -> None:
    started = time.monotonic()
    error = failure({"url": f"{http_server}/slow", "timeout": 0.3}, context)
    assert error.type == "timeout"
    assert "/slow" in error.message and "0.3 s" in error.message
    assert time.monotonic() - started < 2


def test_large_text_is_truncated(http_server: str, context: ActionContext) -> None:
    result = request({"url": f"{http_server}/big"}, context)
    assert result["truncated"] is True
    assert len(result["text"].encode()) == 64 * 1024
    assert set(result["text"]) == {"é"}  # never cut inside a character


def test_invalid_input(context: ActionContext) -> None:
    error = failure({"method": "GET", "timeout": -1, "headers": {"a": 1}}, context)
    assert error.type == "invalid_input"
    violations = error.details["violations"]
    assert any("'url' is a required property" in v for v in violations)
    assert any(v.startswith("input.timeout:") for v in violations)
    assert any(v.startswith("input.headers.a:") for v in violations)
    both = failure({"url": "http://127.0.0.1:1/", "json": {}, "body": "x"}, context)
    assert both.type == "invalid_input"
    scheme = failure({"url": "ftp://example.com/file"}, context)
    assert scheme.type == "invalid_input"


def test_logs_the_request_line_and_status_with_secrets_masked(
    http_server: str, recorder: Any
) -> None:
    url = f"{http_server.replace('http://', 'http://user:pw@')}/echo?token=s3cret&status=201"
    request({"url": url, "method": "post"}, recorder.context())
    (first, second) = recorder.logs
    shown = f"{http_server.replace('http://', 'http://***@')}/echo?token=***&status=***"
    assert first == ("info", f"POST {shown}", None)
    level, message, data = second
    assert level == "info"
    assert message.startswith(f"POST {shown} -> 201 (")
    assert data["status"] == 201 and data["ms"] >= 0
    assert "s3cret" not in repr(recorder.logs) and "pw" not in repr(recorder.logs)
