"""Bearer-token authentication: every route but `/health`, the OpenAPI schema and webhook
deliveries (`/hooks/{id}`, signed with the hook's secret instead: api/webhooks.py) needs
`Authorization: Bearer <token>` with one of the configured tokens. The codec routes also
take a codec session cookie (api/sessions.py), for the Temporal UI; no other route does."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from api.problems import ApiProblem
from api.sessions import CodecSessions, cookie_value

PUBLIC = "public"  # route handler `opt` key: no token needed
# Route handler `opt` key: a codec session cookie stands in for the token. Only for routes
# that change nothing, since a browser attaches cookies to requests a page makes.
CODEC_SESSION = "codec_session"
PUBLIC_PREFIXES = ("/schema",)


def token_matches(presented: str, tokens: Sequence[str]) -> bool:
    """Whether the token is one of `tokens`, compared in constant time."""
    candidate = presented.encode()
    matched = False
    for token in tokens:
        # No early exit: the time taken does not depend on which token matched.
        matched |= hmac.compare_digest(candidate, token.encode())
    return matched


def bearer_guard(tokens: Sequence[str], sessions: CodecSessions | None = None) -> Guard:
    """A guard refusing requests without a valid bearer token (401 problem JSON); on
    routes marked `CODEC_SESSION`, a live codec session cookie from `sessions` will do."""
    configured = tuple(tokens)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get(PUBLIC) or connection.scope["path"].startswith(PUBLIC_PREFIXES):
            return
        authorization = connection.headers.get("authorization", "")
        if not authorization and sessions is not None and handler.opt.get(CODEC_SESSION):
            cookie = cookie_value(connection.headers.get("cookie", ""))
            if cookie is not None:
                problem = sessions.problem(cookie)
                if problem is not None:
                    raise _unauthorized(problem)
                return
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
        if not token_matches(presented.strip(), configured):
            raise _unauthorized("invalid bearer token")

    return guard


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401, "UNAUTHORIZED", detail, headers={"WWW-Authenticate": 'Bearer realm="segue"'}
    )
