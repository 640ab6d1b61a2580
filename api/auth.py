"""Bearer-token authentication: every route but `/health`, the OpenAPI schema and webhook
deliveries (`/hooks/{id}`, signed with the hook's secret instead: api/webhooks.py) needs
`Authorization: Bearer <token>` with one of the configured tokens."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from api.problems import ApiProblem

PUBLIC = "public"  # route handler `opt` key: no token needed
PUBLIC_PREFIXES = ("/schema",)


def token_matches(presented: str, tokens: Sequence[str]) -> bool:
    """Whether the token is one of `tokens`, compared in constant time."""
    candidate = presented.encode()
    matched = False
    for token in tokens:
        # No early exit: the time taken does not depend on which token matched.
        matched |= hmac.compare_digest(candidate, token.encode())
    return matched


def bearer_guard(tokens: Sequence[str]) -> Guard:
    """A guard refusing requests without a valid bearer token (401 problem JSON)."""
    configured = tuple(tokens)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get(PUBLIC) or connection.scope["path"].startswith(PUBLIC_PREFIXES):
            return
        scheme, _, presented = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
        if not token_matches(presented.strip(), configured):
            raise _unauthorized("invalid bearer token")

    return guard


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401, "UNAUTHORIZED", detail, headers={"WWW-Authenticate": 'Bearer realm="segue"'}
    )
