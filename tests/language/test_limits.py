"""`concurrency_limits:` in a workflow file: what a valid entry means (defaults filled
in, name order), every way an entry is refused (each at its key, with a precise message),
and how a run's key is rendered from its input, within bounds."""

from __future__ import annotations

import textwrap

import pytest

from engine.expressions import ExpressionError, Scope
from engine.language.concurrency_limits import DEFAULT_KEY, render_key
from engine.language.loader import check_workflow
from engine.language.spec import LimitSpec

HEAD = """\
version: 1
input:
  host: {type: string, default: a}
tasks:
  a: {action: core.noop}
concurrency_limits:
"""


def check(limits: str) -> list[str]:
    text = HEAD + textwrap.indent(textwrap.dedent(limits), "  ")
    result = check_workflow(text, "w.yaml")
    return [
        f"{d.position.line}:{d.category}: {d.message}" for d in result.diagnostics if d.position
    ]


def test_valid_limits_are_read_in_name_order_with_their_defaults() -> None:
    text = HEAD + "  per_host: {limit: 3, key: '<% $ctx.host %>', strategy: debounce}\n"
    text += "  all: {limit: 10, priority: -5}\n"
    spec = check_workflow(text, "w.yaml").spec
    assert spec is not None
    assert [(x.name, x.capacity, x.strategy, x.priority) for x in spec.limits] == [
        ("all", 10, "queue", -5),
        ("per_host", 3, "debounce", 0),
    ]
    assert spec.limits[0].key is None


REFUSED = [
    ("x: {limit: 0}", "7:schema: concurrency_limits.x.limit must be an integer from 1 to 10000"),
    ("x: {limit: 10001}", "concurrency_limits.x.limit must be an integer from 1 to 10000"),
    ("x: {limit: 1.5}", "concurrency_limits.x.limit must be an integer from 1 to 10000"),
    ("x: {key: a}", "concurrency_limits.x"),  # `limit` is required
    ("x: {limit: 1, strategy: lifo}", "must be one of queue, cancel_new, fail, cancel_oldest"),
    ("x: {limit: 1, priority: 1001}", "priority must be an integer from -1000 to 1000"),
    ("x: {limit: 1, concurrency: 2}", "unknown key 'concurrency'"),
    ("x: {limit: 1, key: ''}", "concurrency_limits.x.key must be text or a <% %> expression"),
    (f"x: {{limit: 1, key: {'k' * 2001}}}", "concurrency_limits.x.key must be text"),
    ("x: {limit: 1, key: '<% $ctx.( %>'}", "7:limit: concurrency_limits.x.key: "),
    ("'9lives': {limit: 1}", "concurrency_limits"),  # a name must start with a letter or _
    ("x: 3", "concurrency_limits.x must be a mapping with `limit`"),
    ("".join(f"l{i}: {{limit: 1}}\n" for i in range(6)), "at most 5 limit names"),
]


@pytest.mark.parametrize(("declared", "expected"), REFUSED)
def test_every_bad_limit_is_refused_at_its_key(declared: str, expected: str) -> None:
    found = check(declared)
    assert any(expected in finding for finding in found), found


def _scope(ctx: dict[str, object]) -> Scope:
    return Scope(ctx=ctx, run={"id": "r"}, now_ms=0, seed="r:limits")


def _limit(key: str | None) -> LimitSpec:
    text = HEAD + ("  x: {limit: 1}\n" if key is None else f"  x: {{limit: 1, key: '{key}'}}\n")
    spec = check_workflow(text, "w.yaml").spec
    assert spec is not None
    return spec.limits[0]


@pytest.mark.parametrize(
    ("key", "ctx", "rendered"),
    [
        (None, {}, DEFAULT_KEY),
        ("<% $ctx.host %>", {"host": "db-1"}, "db-1"),
        ("<% $ctx.port %>", {"port": 5432}, "5432"),
        ("<% $ctx.target %>", {"target": {"h": "a", "p": 1}}, '{"h":"a","p":1}'),
        ("host-<% $ctx.host %>", {"host": "b"}, "host-b"),
        ("<% $ctx.host %>", {"host": "é" * 256}, "é" * 256),
    ],
)
def test_a_runs_key_is_its_rendered_text(
    key: str | None, ctx: dict[str, object], rendered: str
) -> None:
    assert render_key(_limit(key), _scope(ctx)) == rendered


@pytest.mark.parametrize(
    ("ctx", "message"),
    [
        ({"host": ""}, "must be 1 to 256 characters, got 0"),
        ({"host": "x" * 257}, "must be 1 to 256 characters, got 257"),
        ({"host": "x" * 10_000_000}, "over the limit of 262144 bytes"),  # the budget
        ({}, "evaluated to undefined"),
    ],
)
def test_a_key_that_is_empty_too_long_or_undefined_is_an_error(
    ctx: dict[str, object], message: str
) -> None:
    with pytest.raises(ExpressionError, match=message):
        render_key(_limit("<% $ctx.host %>"), _scope(ctx))


# ---------------------------------------------------------------- limits on a task

TASK_HEAD = """\
version: 1
input:
  host: {type: string, default: a}
concurrency_limits:
  run_wide: {limit: 2}
tasks:
  probe:
    action: core.noop
    concurrency_limits:
"""


def check_task(limits: str, head: str = TASK_HEAD) -> list[str]:
    text = head + textwrap.indent(textwrap.dedent(limits), "      ")
    result = check_workflow(text, "w.yaml")
    return [
        f"{d.position.line}:{d.category}: {d.message}" for d in result.diagnostics if d.position
    ]


def test_a_tasks_limits_are_read_in_name_order_beside_the_runs() -> None:
    text = TASK_HEAD + "      per_host: {limit: 1, key: '<% $ctx.host %>'}\n"
    text += "      all_probes: {limit: 4, strategy: fail, priority: 3}\n"
    spec = check_workflow(text, "w.yaml").spec
    assert (
        spec is not None and [d.message for d in check_workflow(text, "w.yaml").diagnostics] == []
    )
    assert [(x.name, x.capacity, x.strategy, x.priority) for x in spec.tasks["probe"].limits] == [
        ("all_probes", 4, "fail", 3),
        ("per_host", 1, "queue", 0),
    ]
    assert [x.name for x in spec.limits] == ["run_wide"]  # the run's own, apart


TASK_REFUSED = [
    ("x: {limit: 0}", "task 'probe': concurrency_limits.x.limit must be an integer from 1 to"),
    ("x: {limit: 1, strategy: debounce}", "must be queue or fail (a task's limit)"),
    ("x: {limit: 1, strategy: cancel_oldest}", "must be queue or fail (a task's limit)"),
    ("x: {limit: 1, priority: -1001}", "priority must be an integer from -1000 to 1000"),
    ("x: {limit: 1, key: '<% $ctx.( %>'}", "10:limit: task 'probe': concurrency_limits.x.key: "),
    ("x: {limit: 1, key: ''}", "task 'probe': concurrency_limits.x.key must be text"),
    ("'9lives': {limit: 1}", "task 'probe': concurrency_limits"),
    ("".join(f"l{i}: {{limit: 1}}\n" for i in range(6)), "at most 5 limit names"),
    # The run holds `run_wide`: its task would wait for its own run's slot.
    ("run_wide: {limit: 1}", "the workflow declares limit 'run_wide' for the whole run"),
]


@pytest.mark.parametrize(("declared", "expected"), TASK_REFUSED)
def test_every_bad_task_limit_is_refused_at_its_key(declared: str, expected: str) -> None:
    found = check_task(declared)
    assert any(expected in finding for finding in found), found


@pytest.mark.parametrize("kind", ["workflow: other", "input: {a: 1}"])
def test_a_task_limit_needs_an_action_to_hold_it(kind: str) -> None:
    head = TASK_HEAD.replace("    action: core.noop\n", f"    {kind}\n")
    found = check_task("x: {limit: 1}", head)
    assert any("a task limit needs an `action` to hold it" in f for f in found), found
