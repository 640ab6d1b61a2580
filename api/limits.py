"""Request limits checked before any recursive code sees a body.

JSON nested thousands deep makes a recursive decoder (msgspec, the standard library)
fail with a RecursionError, a 500. The raw bytes' nesting is measured first, in C-speed
steps: escapes, then strings, are cut out by regular expressions, the brackets left are
mapped to +1/-1 and their running sum taken by `itertools.accumulate`.
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate
from typing import Any, Final

from litestar import Request

from api.problems import ApiProblem

MAX_JSON_DEPTH: Final = 64
_ESCAPE: Final = re.compile(rb"\\.", re.DOTALL)
_STRING: Final = re.compile(rb'"[^"]*"')
_NOT_BRACKET: Final = re.compile(rb"[^\[\]{}]+")
# Opening brackets become 1, closing ones 255 (-1 as a signed byte).
_SIGNS: Final = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (not validated: only counted)."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", _ESCAPE.sub(b"", body)))
    if not brackets:
        return 0
    signs = array("b")
    signs.frombytes(brackets.translate(_SIGNS))
    return max(accumulate(signs))


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or not media


async def check_body_depth(request: Request[Any, Any, Any]) -> None:
    """`before_request` hook: 400 BODY_INVALID for JSON nested deeper than MAX_JSON_DEPTH."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if not _is_json(request.headers.get("content-type", "")):
        return  # YAML has the loader's own depth limit
    body = await request.body()
    if body and json_depth(body) > MAX_JSON_DEPTH:
        raise ApiProblem(
            400,
            "BODY_INVALID",
            f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels",
        )
