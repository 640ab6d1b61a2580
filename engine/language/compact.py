"""A compiled workflow in a compact binary form that loads in bounded time (issue 11).

Compiling a large workflow's YAML (engine/language/loader.py) costs most of a second of
CPU for 5,000 tasks; a third of it is PyYAML's event stream, which no tuning of ours
removes. Registration compiles the file anyway, so it also writes its `WorkflowSpec` in
this form (msgpack, by msgspec) beside the YAML; a worker decodes it instead of parsing
the YAML again. Expressions travel as their text and are compiled again on decoding
(through the shared expression cache: a large file names few distinct texts).

A form is only as good as the compiler that made it: a later release may build a
different spec from the same YAML. So each form starts with a header, the format's
magic and the **compiler fingerprint**: a hash of this format's version and of every
source file the compiled spec's shape and meaning come from. A form with another
fingerprint, or one whose body does not match the SHA-256 the header carries (truncated,
edited, garbage), decodes to None, and the caller compiles the YAML as before. The
checksum finds damage and careless edits, not forgery: whoever may write the form's row
may write the YAML beside it too, and the worker also checks that the decoded spec's
content hash is the YAML's (engine/temporal/spec_warmer.py). Nothing here decides what
a run does: a decoded spec equals the one compiling the YAML gives
(tests/language/test_compact.py).
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any, Final

import msgspec

from engine.expressions.runtime import compile_expression
from engine.expressions.template import (
    Condition,
    Evaluated,
    Interpolated,
    ListTemplate,
    Literal,
    MappingTemplate,
    Template,
)
from engine.language.collection import collector_paused
from engine.language.spec import WorkflowSpec

FORMAT_VERSION: Final = 1
MAGIC: Final = b"SEGUE-SPEC\x00"
_DIGEST_BYTES: Final = 32
# What the spec is built from and made of: a change to any of them may change the spec
# one YAML gives, so it changes the fingerprint and retires every form made before.
_ENGINE: Final = Path(__file__).resolve().parent.parent
_COMPILER_SOURCES: Final = ("language", "expressions", "diagnostics.py")
# A form is at most this large (a 5,000-task chain of 0.8 MB makes 1.9 MB: field names
# and positions repeat): a bigger spec gets no form, and a bigger row is not decoded.
MAX_FORM_BYTES: Final = 32 * 1024 * 1024

# Template kinds, the first item of an encoded template.
_LITERAL, _EVALUATED, _INTERPOLATED, _MAPPING, _LIST = range(5)


@cache
def compiler_fingerprint() -> bytes:
    """SHA-256 of the format version and the compiler's sources, once per process."""
    digest = hashlib.sha256(b"segue-compact-%d\x00" % FORMAT_VERSION)
    files: list[Path] = []
    for name in _COMPILER_SOURCES:
        path = _ENGINE / name
        files += sorted(path.rglob("*")) if path.is_dir() else [path]
    sources = [path for path in files if path.is_file() and path.suffix in (".py", ".json")]
    if _ENGINE / "language" / "loader.py" not in sources:
        # Installed without its sources (bytecode only): nothing to tell releases apart
        # by, so a fingerprint no other process has. Every form is passed over.
        return os.urandom(_DIGEST_BYTES)
    for path in sources:
        digest.update(path.relative_to(_ENGINE).as_posix().encode() + b"\x00")
        digest.update(path.read_bytes())
        digest.update(b"\x00")
    return digest.digest()


def encode_spec(spec: WorkflowSpec) -> bytes:
    """The compact form of a compiled spec, with this process's compiler fingerprint."""
    body = _ENCODER.encode(spec)
    return MAGIC + compiler_fingerprint() + hashlib.sha256(body).digest() + body


def form_of(spec: WorkflowSpec) -> bytes | None:
    """The compact form of a spec, or None when it has none: a value msgpack cannot hold
    (an integer past 64 bits), or a form over `MAX_FORM_BYTES`. Workers compile those
    from the YAML."""
    try:
        form = encode_spec(spec)
    except (TypeError, ValueError, OverflowError, NotImplementedError):
        return None
    return form if len(form) <= MAX_FORM_BYTES else None


def decode_spec(form: bytes | None) -> WorkflowSpec | None:
    """The spec a form holds, or None when it is not one this compiler made (another
    release's, truncated, edited, garbage): the caller then compiles the YAML."""
    if form is None or len(form) > MAX_FORM_BYTES:
        return None
    fingerprint_at, checksum_at = len(MAGIC), len(MAGIC) + _DIGEST_BYTES
    body_at = checksum_at + _DIGEST_BYTES
    if (
        form[:fingerprint_at] != MAGIC
        or form[fingerprint_at:checksum_at] != compiler_fingerprint()
        or form[checksum_at:body_at] != hashlib.sha256(memoryview(form)[body_at:]).digest()
    ):
        return None
    try:
        # As a load from YAML: ~20 objects a task, all alive until the end (collection.py).
        with collector_paused():
            return _DECODER.decode(memoryview(form)[body_at:])
    except Exception:  # hostile bytes fail in many ways; every one means "compile the YAML"
        return None


def _encode_hook(value: Any) -> Any:
    if isinstance(value, Template):
        return _template_out(value)
    if isinstance(value, Condition):
        statuses = None if value._statuses is None else sorted(value._statuses)
        return (value.source, value.path, statuses)
    raise NotImplementedError(f"no compact form for {type(value).__name__}")


def _template_out(template: Template) -> Any:
    if type(template) is Literal:
        return (_LITERAL, template.value)
    if isinstance(template, Evaluated):
        return (_EVALUATED, template.compiled.source, template.path)
    if isinstance(template, Interpolated):
        parts = [part if isinstance(part, str) else part.compiled.source for part in template.parts]
        kinds = [isinstance(part, str) for part in template.parts]
        return (_INTERPOLATED, parts, kinds, template.path)
    if isinstance(template, MappingTemplate):
        return (_MAPPING, [(key, _template_out(value)) for key, value in template.items])
    if isinstance(template, ListTemplate):
        return (_LIST, [_template_out(value) for value in template.items])
    raise NotImplementedError(f"no compact form for {type(template).__name__}")


def _decode_hook(kind: type, value: Any) -> Any:
    if kind is Template:
        return _template_in(value)
    if kind is Condition:
        source, path, statuses = value
        if not isinstance(source, str):
            raise ValueError("a condition's text is not a string")
        if statuses is not None:
            return Condition(source, _path(path), None, frozenset(map(str, statuses)))
        return Condition(source, _path(path), compile_expression(source), None)
    raise NotImplementedError(f"no compact form for {kind.__name__}")


def _template_in(value: Any) -> Template:
    kind = value[0]
    if kind == _LITERAL:
        _, literal = value
        return Literal(literal)
    if kind == _EVALUATED:
        _, source, path = value
        return Evaluated(compile_expression(_text(source)), _path(path))
    if kind == _INTERPOLATED:
        _, texts, kinds, path = value
        where = _path(path)
        parts = tuple(
            _text(text) if plain else Evaluated(compile_expression(_text(text)), where)
            for text, plain in zip(texts, kinds, strict=True)
        )
        return Interpolated(parts, where)
    if kind == _MAPPING:
        return MappingTemplate(tuple((_text(key), _template_in(item)) for key, item in value[1]))
    if kind == _LIST:
        return ListTemplate(tuple(_template_in(item) for item in value[1]))
    raise ValueError(f"unknown template kind {kind!r}")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _path(value: Any) -> tuple[str | int, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str | int) for p in value):
        raise ValueError("a template's path is not a list of names and indexes")
    return tuple(value)


_ENCODER: Final = msgspec.msgpack.Encoder(enc_hook=_encode_hook)
_DECODER: Final = msgspec.msgpack.Decoder(WorkflowSpec, dec_hook=_decode_hook)
