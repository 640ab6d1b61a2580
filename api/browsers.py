"""What keeps browsers from being turned against the API.

- **Host allow-list.** DNS rebinding points a hostile name at the API's address so that a
  page of that name reads the answers: a request whose `Host` is not an allowed name is
  refused (400 `HOST_NOT_ALLOWED`) before any route runs.
- **Cross-site writes.** A page may send "simple" requests anywhere without asking
  (a form, or `fetch` with `text/plain` or no body). A state-changing request is accepted
  only when a browser could not have sent it cross-site unasked: a JSON or YAML content
  type, a bearer token, or the `X-Segue-Client` header (each needs a CORS preflight, which
  this API never grants); and an `Origin`, when present, must be the API's own or an
  allowed one (403 `ORIGIN_NOT_ALLOWED`).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from litestar.enums import ScopeType
from litestar.response.base import ASGIResponse
from litestar.types import ASGIApp, Receive, Scope, Send

from api.problems import PROBLEM_MEDIA_TYPE, ApiProblem, problem_body

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS: Final = ("localhost", "127.0.0.1", "[::1]")
CLIENT_HEADER: Final = "x-segue-client"
CODEC_PREFIX: Final = "/codec/"
# Content types a cross-site page cannot send without a preflight.
_STRUCTURED: Final = ("application/json", "application/yaml", "application/x-yaml", "text/yaml")


def host_name(host_header: str) -> str:
    """The name part of a `Host` value, lower case, without port or trailing dot."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def host_allowed(host_header: str, patterns: Iterable[str]) -> bool:
    """Whether a `Host` value matches a pattern (`*` any, `*.example.com`, exact names)."""
    name = host_name(host_header)
    return bool(name) and any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _structured(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in _STRUCTURED or (media.startswith("application/") and media.endswith("+json"))


def cross_site_problem(
    method: str, headers: dict[str, str], allowed_origins: Iterable[str]
) -> ApiProblem | None:
    """Why a state-changing request looks like a browser's cross-site one, or None."""
    if method in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        same = parts.scheme in ("http", "https") and parts.netloc == headers.get("host", "")
        if not same and origin.rstrip("/") not in allowed_origins:
            return ApiProblem(
                403,
                "ORIGIN_NOT_ALLOWED",
                f"requests from the origin {origin[:200]!r} are not allowed "
                "(SEGUE_API_ALLOWED_ORIGINS lists the allowed ones)",
            )
    bearer = headers.get("authorization", "").lower().startswith("bearer ")
    if _structured(headers.get("content-type", "")) or bearer or CLIENT_HEADER in headers:
        return None
    return ApiProblem(
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "state-changing requests need a JSON or YAML content type (application/json, "
        "application/yaml) or an X-Segue-Client header; a browser sends neither "
        "cross-site",
    )


def browser_guard(
    hosts: tuple[str, ...], origins: tuple[str, ...], codec_origin: str | None = None
) -> type[_BrowserGuard]:
    """An ASGI middleware class for Litestar's `middleware=` with these allow-lists;
    `codec_origin` (the Temporal UI) may also write, to the codec routes only."""
    return type(
        "BrowserGuard",
        (_BrowserGuard,),
        {"hosts": hosts, "origins": origins, "codec_origin": codec_origin},
    )


class _BrowserGuard:
    hosts: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    codec_origin: str | None = None

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            headers.setdefault(raw_name.decode("latin-1").lower(), raw_value.decode("latin-1"))
        problem: ApiProblem | None = None
        if not host_allowed(headers.get("host", ""), self.hosts):
            problem = ApiProblem(
                400,
                "HOST_NOT_ALLOWED",
                "the Host header names no host this API serves (SEGUE_API_ALLOWED_HOSTS)",
            )
        else:
            method = str(scope.get("method", "GET"))
            origins = self.origins
            if self.codec_origin and str(scope.get("path", "")).startswith(CODEC_PREFIX):
                origins = (*origins, self.codec_origin)
            problem = cross_site_problem(method, headers, origins)
        if problem is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(problem_body(problem.status, problem.code, problem.detail)).encode()
        response = ASGIResponse(
            body=body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE
        )
        await response(scope, receive, send)
