"""The compact form (engine/language/compact.py): what it decodes to is the spec that
compiling the YAML gives, field by field and type by type, for every workflow the
project holds and for mutated ones; a form another compiler made, or one truncated,
edited or garbage, decodes to nothing, so the caller compiles the YAML."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.language import compact
from engine.language.compact import MAGIC, compiler_fingerprint, decode_spec, encode_spec
from engine.language.loader import check_workflow
from tests.language.test_load_path import TEXTS, _mutated
from tests.support.spec_shape import strict_shape

COMPILED = {
    name: spec
    for name, text in TEXTS.items()
    if (spec := check_workflow(text, "w.yaml", "w", context_reads=False).spec) is not None
}


def test_the_corpus_compiles() -> None:
    kinds = {name.split("/")[0] for name in COMPILED}
    assert kinds >= {"conformance", "examples", "workflows", "semantics"}


@pytest.mark.parametrize("name", COMPILED)
def test_a_spec_decodes_to_what_compiling_its_yaml_gives(name: str) -> None:
    spec = COMPILED[name]
    decoded = decode_spec(encode_spec(spec))
    assert decoded is not None
    assert strict_shape(decoded) == strict_shape(spec)
    # Properties the graph and coordinator read work on the decoded spec too.
    assert [decoded.cap_for(task) for task in decoded.tasks] == [
        spec.cap_for(task) for task in spec.tasks
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_mutated_workflows_decode_to_their_compiled_spec(text: str) -> None:
    spec = check_workflow(text, "w.yaml", "w", context_reads=False).spec
    if spec is not None:
        decoded = decode_spec(encode_spec(spec))
        assert decoded is not None
        assert strict_shape(decoded) == strict_shape(spec)


def test_a_form_from_another_compiler_is_not_used() -> None:
    form = encode_spec(next(iter(COMPILED.values())))
    head = len(MAGIC)
    other = bytes(b ^ 0xFF for b in compiler_fingerprint())
    assert decode_spec(form[:head] + other + form[head + len(other) :]) is None


def test_the_fingerprint_covers_the_compilers_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    before = compiler_fingerprint()
    monkeypatch.setattr(compact, "FORMAT_VERSION", compact.FORMAT_VERSION + 1)
    compiler_fingerprint.cache_clear()
    try:
        assert compiler_fingerprint() != before
    finally:
        monkeypatch.undo()
        compiler_fingerprint.cache_clear()
    assert compiler_fingerprint() == before


def _form() -> bytes:
    return encode_spec(COMPILED["workflows/" + _any_workflow()])


def _any_workflow() -> str:
    return next(name.split("/", 1)[1] for name in COMPILED if name.startswith("workflows/"))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda form: b"", id="empty"),
        pytest.param(lambda form: form[: len(form) // 2], id="truncated"),
        pytest.param(lambda form: form[:-1], id="one byte short"),
        pytest.param(lambda form: form + b"\x00", id="one byte more"),
        pytest.param(lambda form: b"garbage" * 100, id="garbage"),
        pytest.param(lambda form: MAGIC, id="magic only"),
        pytest.param(lambda form: _header() + b"\xc1" * 64, id="bad msgpack"),
        pytest.param(lambda form: _header() + b"\x93\x01\x02\x03", id="wrong shape"),
        pytest.param(lambda form: form.replace(b"core.", b"\x00\x00\x00\x00\x00"), id="edited"),
        pytest.param(lambda form: b"x" * (compact.MAX_FORM_BYTES + 1), id="too large"),
    ],
)
def test_a_damaged_form_decodes_to_nothing(damage: Any) -> None:
    assert decode_spec(damage(_form())) is None


def _header() -> bytes:
    """A header that passes: this compiler's fingerprint, the body's SHA-256 left to the
    test (damage to the body past the checksum is what `_body` tests)."""
    return MAGIC + compiler_fingerprint()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xc1" * 64, id="bad msgpack"),
        pytest.param(b"\x93\x01\x02\x03", id="wrong shape"),
        pytest.param(b"\x81\xa5tasks\x81\xa1t\x81\xa4name\x01", id="wrong type"),
        pytest.param(b"\x81\xa5tasks\xc0", id="null tasks"),
    ],
)
def test_a_checksummed_body_that_is_no_spec_decodes_to_nothing(body: bytes) -> None:
    """Past the checksum (a form made by a faulty writer), the decoder still refuses."""
    assert decode_spec(_header() + hashlib.sha256(body).digest() + body) is None


def test_no_form_decodes_to_nothing() -> None:
    assert decode_spec(None) is None


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_byte_flipped_never_crashes(data: st.DataObject) -> None:
    form = bytearray(_form())
    at = data.draw(st.integers(len(MAGIC) + 32, len(form) - 1))
    form[at] ^= data.draw(st.integers(1, 255))
    assert decode_spec(bytes(form)) is None
