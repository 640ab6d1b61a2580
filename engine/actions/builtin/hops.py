"""One hop of `http.request` at a time: the connection pinned to the address the egress
policy checked, and the next hop of a redirect with credentials stripped when it leaves
the origin."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

import httpx

from engine.actions.egress import EgressPolicy, parse_ip_literal

MAX_REDIRECTS: Final = 10
# Never sent to another origin; a task adds its own with `sensitive_headers`.
CREDENTIAL_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key"}
)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Headers describing a body that a redirect turned into a GET no longer has.
_BODY_HEADERS: Final = frozenset({"content-type", "content-length", "transfer-encoding"})


class TooManyRedirects(Exception):
    """The redirect chain is longer than MAX_REDIRECTS."""


@dataclass(frozen=True)
class Pinned:
    """A request URL whose host is the checked address, with the name kept for the
    Host header and TLS (SNI and certificate checks)."""

    url: httpx.URL
    host_header: str
    extensions: dict[str, Any]


async def pin(url: httpx.URL, policy: EgressPolicy) -> Pinned:
    """Resolve and check `url`'s host (`EgressDenied` when refused) and pin the request
    to the checked address: no second lookup can answer differently."""
    if url.scheme not in _DEFAULT_PORTS:
        raise httpx.UnsupportedProtocol(f"only http and https are allowed, not {url.scheme!r}")
    host = url.raw_host.decode("ascii")
    port = url.port or _DEFAULT_PORTS[url.scheme]
    address = await policy.resolve(host, port)
    host_header = url.netloc.decode("ascii").rsplit("@", 1)[-1]
    extensions: dict[str, Any] = {}
    if url.scheme == "https" and parse_ip_literal(host) is None:
        extensions["sni_hostname"] = host
    return Pinned(url.copy_with(host=str(address)), host_header, extensions)


def origin(url: httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in."""
    return (url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme, 0))


@dataclass(frozen=True)
class RedirectPlan:
    """What the next hop sends."""

    url: httpx.URL
    method: str
    headers: dict[str, str]
    sensitive: frozenset[str]
    content: bytes | None

    def next(self, status: int, location: str) -> RedirectPlan:
        """The hop a `status` redirect to `location` leads to (browser rules: 303, and
        301/302 after a POST, become a GET without a body)."""
        target = self.url.join(location)
        method, content, headers = self.method, self.content, dict(self.headers)
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method, content = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() not in _BODY_HEADERS}
        if origin(target) != origin(self.url):
            dropped = CREDENTIAL_HEADERS | self.sensitive
            headers = {k: v for k, v in headers.items() if k.lower() not in dropped}
            if self.url.userinfo and target.userinfo == self.url.userinfo:
                target = target.copy_with(username=None, password=None)
        elif not target.userinfo and self.url.userinfo:
            # Same origin: the credentials of the URL stay with it, as a client's would.
            target = target.copy_with(userinfo=self.url.userinfo)
        return replace(self, url=target, method=method, headers=headers, content=content)
