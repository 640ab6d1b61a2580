"""Redacting URLs for messages: userinfo and query values may be credentials
(`https://user:pass@host/…`, `?token=…`), so messages show `***` in their place."""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK: Final = "***"


def redact_url(url: str) -> str:
    """`url` with its userinfo and every query value replaced by `***`."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
        query = "&".join(
            f"{key}={MASK}" for key, _ in parse_qsl(parts.query, keep_blank_values=True)
        )
        if parts.query and not query:
            query = MASK
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "<an invalid URL>"


def redact_text(text: str, url: str) -> str:
    """`text` with any secret part of `url` (userinfo, query values) masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return text.replace(url, "<an invalid URL>")
    secrets = [value for _, value in parse_qsl(parts.query, keep_blank_values=True) if value]
    if "@" in parts.netloc:
        secrets.append(parts.netloc.rsplit("@", 1)[0])
    text = text.replace(url, redact_url(url))
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
