"""Temporal's data converter with a faster `json/plain` converter.

The default one turns each payload dataclass into a dict with `dataclasses.asdict` (a
deep copy, with a sandbox-wrapped `isinstance` per value inside workflow code) and then
runs `json.dumps`; reading one back goes through `value_to_type`, field by field.
Scheduling an action activity paid both for every `ActionRequest`: about 40% of the
interpreter's own CPU in a 200-way fan-out (`python benchmarks/temporal.py --profile`),
and 145 µs of the worker's per activity to read the request (26 ms for one carrying 202
trace events: `python benchmarks/payloads.py`). msgspec writes the same JSON (keys
sorted, as the default's `sort_keys=True`; the same bytes, except that text beyond ASCII
stays UTF-8 rather than `\\u` escapes, which every JSON reader takes) and reads
dataclasses back, both in C, 6-100x faster. Anything msgspec cannot encode, and any
payload it cannot read as the dataclass asked for, goes to the default converter
unchanged, so payloads of other clients or of earlier versions read back as ever.

msgspec Structs (an action's outcome, a looked-up workflow: engine/temporal/types.py), and
lists of them, are read here only, as the default converter knows nothing of them: a
payload that is not one fails with msgspec's account of where and why.
"""

from __future__ import annotations

import dataclasses
import typing
from functools import cache
from typing import Any

import msgspec
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

_ENCODE = msgspec.json.Encoder(order="sorted").encode
_JSON_PLAIN = b"json/plain"


@cache
def _decoder(shape: type) -> msgspec.json.Decoder[Any]:
    # Not strict: a whole number reads into a float field, as with `value_to_type`.
    return msgspec.json.Decoder(shape, strict=False)


def _holds_structs(hint: Any) -> bool:
    """A Struct, or a list of them: shapes only msgspec reads."""
    if typing.get_origin(hint) is list:
        (hint,) = typing.get_args(hint) or (None,)
    return isinstance(hint, type) and issubclass(hint, msgspec.Struct)


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)


class FastJSONPayloadConverter(JSONPlainPayloadConverter):
    """`json/plain` by msgspec: all encoding, and decoding into dataclasses."""

    def to_payload(self, value: Any) -> Payload | None:
        try:
            data = _ENCODE(value)
        except (TypeError, msgspec.EncodeError):
            return super().to_payload(value)
        return Payload(metadata={"encoding": _JSON_PLAIN}, data=data)

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        if type_hint is not None and _holds_structs(type_hint):
            try:
                return _decoder(type_hint).decode(payload.data)
            except msgspec.DecodeError as error:
                raise TypeError(f"the payload is not a {_name(type_hint)}: {error}") from None
        if type_hint is not None and dataclasses.is_dataclass(type_hint):
            try:
                return _decoder(type_hint).decode(payload.data)
            except (msgspec.DecodeError, TypeError):
                pass  # the default converter reads it, or says why it cannot
        return super().from_payload(payload, type_hint)


class SeguePayloadConverter(CompositePayloadConverter):
    """Temporal's default converters, with the `json/plain` one replaced."""

    def __init__(self) -> None:
        super().__init__(
            *(
                FastJSONPayloadConverter()
                if isinstance(converter, JSONPlainPayloadConverter)
                else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


DATA_CONVERTER = dataclasses.replace(
    DataConverter.default, payload_converter_class=SeguePayloadConverter
)
