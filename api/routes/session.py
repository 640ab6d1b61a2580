"""`POST /session` and `DELETE /session`: a codec session cookie for the Temporal UI.

The console asks for one when a token is entered; the browser then sends the cookie with
the Temporal UI's calls to `/codec/decode` ("include cross-origin credentials"), which is
how the UI shows decoded payloads to someone who holds a token (api/sessions.py). Both
routes need the bearer token itself: a cookie never makes another cookie.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, delete, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency

from api.problems import ApiProblem, documented
from api.services import Services
from api.sessions import COOKIE_NAME, COOKIE_PATH, Session, set_cookie_header
from api.wire import SessionView

# The cookie that replaces the browser's copy with an expired, empty one. Without
# `Secure`: over HTTPS it still replaces a Secure cookie (only a plain-HTTP answer may
# not), and over plain HTTP the cookie was never Secure.
CLEARED = set_cookie_header(Session("", 0), secure=False, max_age=0)


class SessionController(Controller):
    path = "/session"
    tags = ["codec"]

    @post(
        status_code=200,
        summary="Get a codec session cookie (for the Temporal UI)",
        responses=documented(409),
    )
    async def start(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Response[SessionView]:
        if services.config.auth_disabled:
            raise ApiProblem(
                409,
                "SESSION_NOT_NEEDED",
                "authentication is off (segue dev): the codec routes answer without a session",
            )
        # The guard has checked the token; the session is signed for that very token, so
        # that removing it from SEGUE_API_TOKEN revokes the session too.
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        session = services.sessions.issue(token)
        view = SessionView(
            cookie=COOKIE_NAME,
            path=COOKIE_PATH,
            expires=datetime.fromtimestamp(session.expires, UTC).isoformat(),
            expires_in_seconds=services.sessions.lifetime_seconds,
        )
        cookie = set_cookie_header(
            session, secure=_secure(request), max_age=services.sessions.lifetime_seconds
        )
        return Response(view, headers={"Set-Cookie": cookie, "Cache-Control": "no-store"})

    @delete(
        status_code=204,
        summary="Forget the codec session cookie",
        response_headers=[ResponseHeader(name="Set-Cookie", value=CLEARED)],
    )
    async def end(self) -> None:
        # Clears the browser's copy; a copied cookie stays valid until it expires or its
        # token is rotated out (sessions are signed, not stored). A 204 with no body, as
        # every 204 here is documented.
        return None


def _secure(request: Request[Any, Any, Any]) -> bool:
    """`Secure` whenever the API is reached over TLS (directly or through a proxy that
    the server trusts for `X-Forwarded-Proto`)."""
    return request.url.scheme == "https"
