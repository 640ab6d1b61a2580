"""`http.request`: one HTTP request with httpx; the response comes back as data.

A non-2xx status is a result, not a failure: the workflow's `when` decides what a 503
means. Only `expect_status` turns an unexpected status into a failed attempt.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from functools import cache
from typing import Any, Final

import httpx
from opentelemetry import propagate

from engine.actions.api import ActionContext, ActionDefinition, ActionError, Placement
from engine.actions.builtin.common import decode_limited
from engine.actions.builtin.hops import MAX_REDIRECTS, RedirectPlan, TooManyRedirects, pin
from engine.actions.egress import EgressDenied, EgressUnresolved, current_policy
from engine.masking import redact_text, redact_url

DEFAULT_TIMEOUT: Final = 30.0
# JSON bodies up to this size are parsed; anything larger comes back as truncated text.
JSON_LIMIT: Final = 1024 * 1024
USER_AGENT: Final = "segue-http-request/1"
# No retries unless the workflow asks; when it does, back off exponentially by default.
RETRY_DEFAULTS: Final = {"count": 0, "delay": 1, "backoff": 2, "max_delay": 30}

_SCALAR: Final = {"type": ["string", "number", "boolean"]}
CREDENTIAL_HEADERS: Final = ("Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key")
INPUT_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "method": {"type": "string", "pattern": "^[A-Za-z]+$"},
        "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "query": {
            "type": "object",
            "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
        },
        "json": {},
        "body": {"type": "string"},
        "timeout": {"type": "number", "exclusiveMinimum": 0},
        "expect_status": {
            "type": "array",
            "items": {"type": "integer", "minimum": 100, "maximum": 599},
            "minItems": 1,
        },
        "follow_redirects": {"type": "boolean"},
        "sensitive_headers": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["url"],
    "additionalProperties": False,
}


@cache
def _ssl_context() -> ssl.SSLContext:
    """The TLS settings every request shares (httpx's defaults: certifi's CAs, or
    SSL_CERT_FILE / SSL_CERT_DIR). Built once: loading the CA bundle takes ~26 ms
    (benchmarks/payloads.py), which every request used to pay again — most of a
    monitoring run's worker CPU."""
    return httpx.create_ssl_context()


async def request(input: dict[str, Any], context: ActionContext) -> dict[str, Any]:
    """Send the request; return {status, headers, json | text[, truncated]}."""
    if "json" in input and "body" in input:
        raise ActionError("invalid_input", "http.request: give `json` or `body`, not both")
    method = str(input.get("method", "GET")).upper()
    shown = redact_url(input["url"])
    timeout = float(input.get("timeout", DEFAULT_TIMEOUT))
    where = {"method": method, "url": shown}
    context.log("info", f"{method} {shown}")
    started = time.monotonic()
    try:
        # asyncio.timeout bounds the whole exchange, every hop included; httpx's own
        # timeout is per operation.
        async with asyncio.timeout(timeout):
            response, body, over_limit = await _exchange(input, method, timeout)
    except (TimeoutError, httpx.TimeoutException):
        raise ActionError(
            "timeout", f"{method} {shown} got no complete response within {timeout:g} s", where
        ) from None
    except EgressDenied as denied:
        details = {**where, "host": denied.host, "address": denied.address, "rule": denied.rule}
        raise ActionError("egress_denied", f"{method} {shown} refused: {denied}", details) from None
    except (EgressUnresolved, TooManyRedirects) as exc:
        raise ActionError("http_error", f"{method} {shown} failed: {exc}", where) from None
    except httpx.HTTPError as exc:
        reason = _reason(exc)
        raise ActionError("http_error", f"{method} {shown} failed: {reason}", where) from None
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        # A URL httpx cannot parse, or a header value that is not Latin-1.
        reason = redact_text(str(exc), input["url"])
        raise ActionError("invalid_input", f"http.request: {shown}: {reason}", where) from None
    except Exception as exc:  # never a traceback with worker paths
        kind = type(exc).__name__
        raise ActionError("http_error", f"{method} {shown} failed: {kind}", where) from None

    took_ms = round((time.monotonic() - started) * 1000)
    context.log(
        "info",
        f"{method} {shown} -> {response.status_code} ({took_ms} ms)",
        status=response.status_code,
        ms=took_ms,
    )
    result = _result(response, body, over_limit)
    expected = input.get("expect_status")
    if expected is not None and response.status_code not in expected:
        raise ActionError(
            "http_status",
            f"{method} {shown} answered {response.status_code}, expected one of {expected}",
            result,
        )
    return result


async def _exchange(
    input: dict[str, Any], method: str, timeout: float
) -> tuple[httpx.Response, bytes, bool]:
    """Send the request and follow redirects hop by hop (each hop checked by the egress
    policy); the final response and at most JSON_LIMIT bytes of its body."""
    hops = RedirectPlan(
        url=httpx.URL(input["url"]).copy_merge_params(input.get("query") or {}),
        method=method,
        headers=dict(input.get("headers") or {}),
        sensitive=frozenset(str(name).lower() for name in input.get("sensitive_headers", [])),
        content=_body(input),
    )
    if "json" in input and not any(name.lower() == "content-type" for name in hops.headers):
        hops.headers["content-type"] = "application/json"
    _add_trace_context(hops.headers)
    follow = bool(input.get("follow_redirects", True))
    async with httpx.AsyncClient(
        verify=_ssl_context(),
        timeout=timeout,
        follow_redirects=False,
        # A proxy from the environment would resolve names itself, out of the policy's sight.
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            pinned = await pin(hops.url, current_policy())
            client.cookies.clear()  # cookies belong to a host name, not to its address
            request = client.build_request(
                hops.method,
                pinned.url,
                headers={**hops.headers, "host": pinned.host_header},
                content=hops.content,
                extensions=pinned.extensions,
            )
            response = await client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if not (follow and response.is_redirect and location):
                    body, over_limit = await _read_limited(response, JSON_LIMIT)
                    return response, body, over_limit
                hops = hops.next(response.status_code, location)
            finally:
                await response.aclose()
    raise TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")


def _add_trace_context(headers: dict[str, str]) -> None:
    """Carry the attempt's trace to the server (W3C `traceparent`, while tracing is on:
    engine/temporal/otel.py); a header of that name the workflow set itself is kept."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    present = {name.lower() for name in headers}
    for name, value in carrier.items():
        if name.lower() not in present:
            headers[name] = value


def _body(input: dict[str, Any]) -> bytes | None:
    if "json" in input:
        return json.dumps(input["json"]).encode()
    if "body" in input:
        return str(input["body"]).encode()
    return None


async def _read_limited(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, and whether there was more."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _result(response: httpx.Response, body: bytes, over_limit: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "status": response.status_code,
        "headers": {key.lower(): value for key, value in response.headers.items()},
    }
    if not over_limit and _is_json(response) and body.strip():
        try:
            result["json"] = json.loads(body)
            return result
        except ValueError:  # labelled JSON but is not: show it as text
            pass
    text, truncated = decode_limited(body, over_limit, response.encoding or "utf-8")
    result["text"] = text
    if truncated:
        result["truncated"] = True
    return result


def _is_json(response: httpx.Response) -> bool:
    media_type: str = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _reason(exc: Exception) -> str:
    """httpx's message, plus the operating system's reason found down the cause chain."""
    reason = str(exc) or type(exc).__name__
    errno = None
    cause = exc.__cause__ or exc.__context__
    for _ in range(10):  # chains are short; never follow a cycle for ever
        if cause is None:
            break
        if isinstance(cause, OSError) and cause.errno and cause.errno > 0:
            errno = cause.errno
        cause = cause.__cause__ or cause.__context__
    if errno is not None and os.strerror(errno) not in reason:
        reason += f" ({os.strerror(errno)})"
    return reason


def http_actions() -> tuple[ActionDefinition, ...]:
    """The `http.*` definitions."""
    return (
        ActionDefinition(
            "http.request",
            request,
            # Short calls: a local activity saves the activity task's round trip through
            # the server (longer-timeout tasks run as activities: engine/temporal/placement.py).
            placement=Placement.LOCAL_ACTIVITY,
            description="Send one HTTP request; non-2xx statuses are results, not failures",
            retry_defaults=RETRY_DEFAULTS,
            input_schema=INPUT_SCHEMA,
            # Credentials in headers: masked in the trace even when written as literals.
            secret_input=tuple(f"headers.{name}" for name in CREDENTIAL_HEADERS),
        ),
    )
