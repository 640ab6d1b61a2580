"""Masking secret values, and redacting URLs, before anything is shown or stored.

One module for every writer that shows run data to people: the trace and run projection
(written by the interpreter), the API's problems, the CLI, and task logs. Secrets are
masked *by value* — wherever the text of a secret appears, whatever path it took through
a workflow (published into the context, embedded in a larger string, returned by an
action, escaped inside JSON text or a URL). Values shorter than `MIN_MASKED_LENGTH` are
not masked by value: hiding every `a` or `42` in a trace would destroy the trace and,
by the holes it leaves, tell where the secret's characters are. Such short secrets are
still masked where a declared secret field holds them (`mask_fields`).

Pure: no I/O, no clock; the workflow sandbox imports it (engine core).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit, urlunsplit

MASK: Final = "***"
MIN_MASKED_LENGTH: Final = 4
# Deeper values are masked as their JSON text (a trace never holds one this deep: the
# store cuts at 64 levels) so that masking itself cannot exhaust the stack.
_MAX_DEPTH: Final = 96
# Anything that looks like an absolute URL in a message: `scheme://` then no spaces.
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+")


def spellings(secret: str) -> set[str]:
    """The forms a secret takes in text a workflow may build from it: as is, inside a
    JSON string (`$string()` of an object holding it), and percent-encoded in a URL."""
    forms = {secret}
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add(quote(secret, safe=""))
    forms.add(quote_plus(secret, safe=""))
    return {form for form in forms if len(form) >= MIN_MASKED_LENGTH}


def secret_values(value: Any) -> list[str]:
    """The texts to mask for a value declared secret: every string and number inside it."""
    found: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, bool) or item is None:
            continue  # `true` or `null` are no secret, and masking them would break JSON text
        elif isinstance(item, (int, float)):
            found.append(json.dumps(item))
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


class Masker:
    """Replaces every known secret value by `***` in text and in JSON values."""

    __slots__ = ("_pattern", "values")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Kept as given (long enough ones only), sorted: the workflow carries them across
        # continue-as-new and the order must not depend on set iteration.
        self.values: tuple[str, ...] = tuple(sorted(_maskable(secrets)))
        forms = sorted(
            {form for secret in self.values for form in spellings(secret)},
            key=lambda form: (-len(form), form),  # longest first: no partial masks
        )
        self._pattern = re.compile("|".join(map(re.escape, forms))) if forms else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def with_values(self, secrets: Iterable[str]) -> Masker:
        """A masker that also masks `secrets` (itself when nothing new is added)."""
        more = _maskable(secrets)
        if more <= set(self.values):
            return self
        return Masker((*self.values, *more))

    def text(self, text: str) -> str:
        """`text` with every secret (in any of its `spellings`) replaced by `***`."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def value(self, value: Any) -> Any:
        """A copy of a JSON value with secrets masked in every string, keys included."""
        if self._pattern is None:
            return value
        return self._value(value, 0)

    def _value(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if depth > _MAX_DEPTH and isinstance(value, (dict, list, tuple)):
            return self.text(_json_text(value))
        if isinstance(value, Mapping):
            return {
                (self.text(k) if isinstance(k, str) else k): self._value(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self._value(v, depth + 1) for v in value]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = json.dumps(value)
            return MASK if text in self.values else value
        return value

    def message(self, text: str) -> str:
        """A message for people: secrets masked, and URL userinfo and query values too."""
        return redact_urls(self.text(text))


def _maskable(secrets: Iterable[str]) -> set[str]:
    """The secrets long enough to mask by value."""
    return {s for s in secrets if isinstance(s, str) and len(s) >= MIN_MASKED_LENGTH}


def masked(value: Any, secrets: Iterable[str]) -> Any:
    """`value` (text or JSON) with `secrets` masked: the one call for writers (task logs)
    that hold a run's secret values and nothing else of this module."""
    return Masker(secrets).value(value)


def mask_fields(value: Any, fields: Iterable[str]) -> Any:
    """A mapping with the named top-level fields replaced by `***` (declared secrets,
    masked whatever their length)."""
    if not isinstance(value, Mapping):
        return value
    names = set(fields)
    return {key: (MASK if key in names else item) for key, item in value.items()}


def mask_paths(value: Any, paths: Iterable[str]) -> Any:
    """A copy of `value` with the fields at these dotted paths (`headers.Authorization`;
    keys match without regard to case, as an action's `secret_input` declares them)
    replaced by `***`, whatever their length. Only the mappings on a path are copied."""
    for path in paths:
        value = _mask_path(value, path.split("."))
    return value


def _mask_path(value: Any, steps: list[str]) -> Any:
    if not steps or not isinstance(value, Mapping):
        return value
    folded = steps[0].casefold()
    copy = dict(value)
    for key, item in value.items():
        if str(key).casefold() == folded:
            copy[key] = MASK if len(steps) == 1 else _mask_path(item, steps[1:])
    return copy


# ---------------------------------------------------------------------- URLs


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
    """`text` with any secret part of `url` (userinfo, query values) masked, wherever it
    appears in `text` (a library's message may quote a part of the URL alone)."""
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
    return redact_urls(text)


def redact_urls(text: str) -> str:
    """`text` with every URL in it redacted (`redact_url`)."""
    if "://" not in text:
        return text
    return _URL.sub(_redact_found, text)


def _redact_found(found: re.Match[str]) -> str:
    url = found.group(0)
    return redact_url(url) if ("@" in url or "?" in url) else url


class _Raw(str):
    """JSON punctuation already written, as it goes on `_json_text`'s stack."""


def _json_text(value: Any) -> str:
    """`value` as JSON text, written with a stack instead of recursion: a value too deep to
    walk (past `_MAX_DEPTH`) can be nested deeper than Python's recursion limit."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item)
        elif isinstance(item, Mapping):
            parts: list[Any] = [_Raw("{")]
            for index, (key, inner) in enumerate(item.items()):
                parts += [_Raw(("," if index else "") + json.dumps(str(key)) + ":"), inner]
            stack.extend(reversed([*parts, _Raw("}")]))
        elif isinstance(item, (list, tuple)):
            parts = [_Raw("[")]
            for index, inner in enumerate(item):
                parts += ([_Raw(",")] if index else []) + [inner]
            stack.extend(reversed([*parts, _Raw("]")]))
        else:
            out.append(json.dumps(item, default=str))
    return "".join(out)
