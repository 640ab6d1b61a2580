"""Secret values never show: masked by value wherever a workflow moved them, hostile
values included (engine/masking.py)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from engine.masking import (
    MASK,
    MIN_MASKED_LENGTH,
    Masker,
    mask_fields,
    masked,
    redact_text,
    redact_urls,
    secret_values,
)

TOKEN = "sk-live-4f9a"

# (secrets, value shown, what may be stored and shown)
CASES: list[tuple[str, list[str], Any, Any]] = [
    ("published into the context", [TOKEN], {"ctx": {"t": TOKEN}}, {"ctx": {"t": MASK}}),
    ("inside a larger string", [TOKEN], f"Bearer {TOKEN}!", f"Bearer {MASK}!"),
    ("twice, and as a key", [TOKEN], {TOKEN: [TOKEN, TOKEN]}, {MASK: [MASK, MASK]}),
    (
        "inside JSON text (quotes and backslashes escaped)",
        ['pa"ss\\word'],
        json.dumps({"p": 'pa"ss\\word'}),
        json.dumps({"p": MASK}),
    ),
    (
        "inside JSON text with escaped unicode",
        ["pässwörd"],
        json.dumps({"p": "pässwörd"}),
        json.dumps({"p": MASK}),
    ),
    (
        "percent-encoded in a URL",
        ["a b&c=d"],
        f"https://x/?q={quote('a b&c=d', safe='')}",
        "https://x/?q=***",
    ),
    ("a number declared secret", ["12345678"], {"pin": 12345678, "n": 1}, {"pin": MASK, "n": 1}),
    ("longest first: no half-masked overlap", ["abcd", "abcdefgh"], "abcdefgh", MASK),
    (
        "a secret that is a common word masks it everywhere",
        ["status"],
        "the status: ok",
        f"the {MASK}: ok",
    ),
    # A 1-character secret is not masked by value: hiding every `x` would wreck the text
    # and, by the holes, show where the secret's character is. (Declared fields still
    # mask it: `mask_fields`.)
    ("one character is not masked by value", ["x"], "x marks the box", "x marks the box"),
    ("nothing known, nothing changed", [], {"a": TOKEN}, {"a": TOKEN}),
]


@pytest.mark.parametrize(("case", "secrets", "value", "expected"), CASES, ids=[c[0] for c in CASES])
def test_secrets_are_masked_by_value(
    case: str, secrets: list[str], value: Any, expected: Any
) -> None:
    assert masked(value, secrets) == expected


def test_a_short_secret_is_still_masked_in_its_declared_field() -> None:
    run_input = {"pin": "7", "name": "x7"}
    assert mask_fields(run_input, ["pin"]) == {"pin": MASK, "name": "x7"}
    assert MIN_MASKED_LENGTH == 4


def test_masking_a_deep_value_does_not_exhaust_the_stack() -> None:
    deep: Any = TOKEN
    for _ in range(5000):
        deep = [deep]
    shown = Masker([TOKEN]).value(deep)
    assert TOKEN not in json.dumps(shown)[:100_000] and MASK in str(shown)


def test_regex_characters_in_a_secret_are_literal() -> None:
    assert Masker([".*+?"]).text("a.*+?b and abcd") == "a***b and abcd"


def test_secret_values_collects_strings_and_numbers_not_booleans() -> None:
    assert sorted(secret_values({"a": ["t1", 2, True, None], "b": {"c": 1.5}})) == [
        "1.5",
        "2",
        "t1",
    ]


def test_urls_in_messages_lose_userinfo_and_query_values() -> None:
    message = "GET https://bob:hunter22@api.example/v1?key=abc&x=1 failed; see http://ok.example/a"
    assert redact_urls(message) == (
        "GET https://***@api.example/v1?key=***&x=*** failed; see http://ok.example/a"
    )
    # The egress helper and the general one are one: a part quoted alone is masked too.
    url = "https://u:pw123@h.example/p?token=zz9"
    assert redact_text(f"connect to {url} (token zz9)", url) == (
        "connect to https://***@h.example/p?token=*** (token ***)"
    )


def test_a_masker_learns_values_and_keeps_a_stable_order() -> None:
    first = Masker(["zzzz", "aaaa"])
    assert first.values == ("aaaa", "zzzz")
    more = first.with_values(["mmmm", "aa"])
    assert more.values == ("aaaa", "mmmm", "zzzz")
    assert first.with_values(["zzzz"]) is first
