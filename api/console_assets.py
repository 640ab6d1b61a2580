"""The run console's files (api/console/), served by the API itself at `/` and
`/console/…`: same origin, no CDN, under a strict Content-Security-Policy.

The files are read once, when the app is built, into a fixed table: a request names an
entry of that table or gets 404, so no path from a request ever reaches the file system.
The page holds no secret: the routes are public, and the page asks for the API token
(kept in the tab's sessionStorage) before it calls anything that needs one."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Final

from litestar import Response, Router, get
from litestar.params import FromPath

from api.auth import PUBLIC
from api.problems import not_found

# No inline script or style, nothing from elsewhere, no framing, no form posts, no
# plugins; `connect-src 'self'` lets the page call the API it came from and nothing else.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # The files change with the installed version: revalidate rather than guess.
    "Cache-Control": "no-cache",
}
MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}
MAX_ASSETS: Final = 200  # the console is a few dozen files; more means a wrong directory


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str


def load_assets(package: str = "api", directory: str = "console") -> dict[str, Asset]:
    """Every servable file under the console directory, by its path relative to it."""
    root = resources.files(package).joinpath(directory)
    table: dict[str, Asset] = {}
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        for entry in folder.iterdir():
            name = f"{prefix}{entry.name}"
            if entry.is_dir():
                pending.append((entry, f"{name}/"))
                continue
            suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
            media = MEDIA_TYPES.get(suffix)
            if media is not None:
                table[name] = Asset(entry.read_bytes(), media)
            if len(table) > MAX_ASSETS:
                raise RuntimeError(f"more than {MAX_ASSETS} console files under {root}")
    if "index.html" not in table:
        raise RuntimeError(f"the console's index.html is missing from {root}")
    return table


def console_router(assets: dict[str, Asset] | None = None) -> Router:
    """`GET /` (the page) and `GET /console/{path}` (its scripts, styles, images)."""
    table = assets if assets is not None else load_assets()

    def answer(name: str) -> Response[bytes]:
        asset = table.get(name)
        if asset is None:
            raise not_found("NOT_FOUND", "no such console file")
        return Response(asset.body, media_type=asset.media_type, headers=SECURITY_HEADERS)

    @get("/", opt={PUBLIC: True}, include_in_schema=False, sync_to_thread=False)
    def page() -> Response[bytes]:
        return answer("index.html")

    @get("/console/{path:path}", opt={PUBLIC: True}, include_in_schema=False, sync_to_thread=False)
    def asset(path: FromPath[str]) -> Response[bytes]:
        return answer(path.lstrip("/")[:300])

    return Router(path="/", route_handlers=[page, asset])
