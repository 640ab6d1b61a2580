"""What a trace event shows of a rendered input or a published value (behaviour 4):
small values whole, larger ones as a clipped preview with their size; an action's
declared secret input fields masked by path, whatever their length."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.masking import mask_paths
from engine.temporal.compiled import configure_secret_inputs, secret_inputs
from engine.temporal.shown_values import SHOWN_VALUE_BYTES, clip_shown, clipped
from engine.temporal.types import TraceRecord

BIG = "é" * SHOWN_VALUE_BYTES  # 2 bytes a character in UTF-8: a cut may fall inside one
CAP = SHOWN_VALUE_BYTES


@pytest.mark.parametrize(
    ("value", "shown", "size"),
    [
        ({"a": 1}, {"a": 1}, None),
        (None, None, None),
        ("x" * (CAP - 2), "x" * (CAP - 2), None),  # exactly at the cap, quotes included
        ("x" * (CAP - 1), '"' + "x" * (CAP - 1) + "…", CAP + 1),
        (BIG, '"' + "é" * ((CAP - 1) // 2) + "…", 2 * CAP + 2),
    ],
    ids=["small", "null", "at-the-cap", "one-over", "cut-inside-a-character"],
)  # fmt: skip
def test_a_value_is_shown_whole_or_clipped_with_its_size(
    value: Any, shown: Any, size: int | None
) -> None:
    assert clipped(value) == (shown, size)


def test_a_record_keeps_the_size_it_gave_when_written_again() -> None:
    """A batch put back after its activity failed is clipped again on its next write:
    the preview stays, and so does the size of the whole value."""
    record = TraceRecord(1, "COMPLETED", "info", 0, "t", data={"input": "y" * 20_000,
                         "values": {"v": 1, "w": ["z" * 9000]}})  # fmt: skip
    once = clip_shown(record)
    assert once.data is not None
    assert once.data["clipped"] == {"input": 20_002, "values.w": 9004}
    assert once.data["values"]["v"] == 1
    assert clip_shown(once) == once
    assert record.data is not None and record.data["input"] == "y" * 20_000  # not changed


def test_a_record_without_inputs_or_values_is_itself() -> None:
    record = TraceRecord(1, "STARTED", "info", 0, "t", data={"execution": 1})
    assert clip_shown(record) is record


@pytest.mark.parametrize(
    ("paths", "value", "masked"),
    [
        (["password"], {"user": "bob", "password": "pw"}, {"user": "bob", "password": "***"}),
        (["headers.Authorization"], {"headers": {"authorization": "B x", "Accept": "*/*"}},
         {"headers": {"authorization": "***", "Accept": "*/*"}}),
        (["headers.Authorization"], {"headers": "not a mapping"}, {"headers": "not a mapping"}),
        (["a.b"], ["not", "a", "mapping"], ["not", "a", "mapping"]),
        (["missing"], {"present": 1}, {"present": 1}),
        (["token"], {"token": {"nested": ["whole", "subtree"]}}, {"token": "***"}),
    ],
    ids=["short", "case-insensitive", "not-a-mapping-inside", "not-a-mapping", "absent", "subtree"],
)  # fmt: skip
def test_declared_secret_fields_are_masked_by_path(
    paths: list[str], value: Any, masked: Any
) -> None:
    before = json.dumps(value)
    assert mask_paths(value, paths) == masked
    assert json.dumps(value) == before  # a copy: the action still gets the real value


def test_a_later_catalog_never_unmasks_what_an_earlier_one_declared() -> None:
    """Several workers in one process (the dev stack, the simulate harness, tests): each
    catalog adds its secret fields; one that lacks an action leaves its fields masked."""
    configure_secret_inputs({"shown.login": ["password"]})
    configure_secret_inputs({"shown.other": ["token"], "shown.login": ["otp"]})
    configure_secret_inputs({})
    assert secret_inputs("shown.login") == ("password", "otp")
    assert secret_inputs("shown.other") == ("token",)
