"""Valid workflows load into the spec the coordinator runs, with positions and hashes."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from engine.diagnostics import Category, Position, Severity
from engine.expressions import Scope
from engine.language.loader import (
    check_workflow,
    check_workflow_file,
    load_workflow,
    load_workflow_file,
)
from engine.language.spec import WorkflowSpec

CONFORMANCE = Path("/work/shared/conformance")
WORKFLOWS = sorted(p for p in CONFORMANCE.glob("*.yaml") if not p.name.endswith(".cases.yaml"))


def _scope(**ctx: object) -> Scope:
    return Scope(ctx=ctx, run={}, now_ms=0, seed="test")


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_conformance_workflows_load_without_findings(path: Path) -> None:
    result = check_workflow_file(path)
    assert result.spec is not None, [d.format() for d in result.diagnostics]
    assert [d for d in result.diagnostics if d.severity is Severity.ERROR] == []
    # Every `$ctx` read in these workflows is assigned by an input, a var or a publish.
    assert [d.format() for d in result.diagnostics if d.category is Category.CONTEXT] == []
    assert result.spec.name == path.stem
    assert result.spec.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_conformance_set_is_present() -> None:
    assert len(WORKFLOWS) >= 10
    assert CONFORMANCE / "poll-until-ready.yaml" in WORKFLOWS


def _load(text: str, name: str | None = None) -> WorkflowSpec:
    return load_workflow(textwrap.dedent(text), "wf.yaml", name)


def test_top_level_fields() -> None:
    spec = _load(
        """\
        version: 1
        description: Poll
        input:
          url: {type: string}
        vars:
          checks: 0
          next_check: <% $ctx.checks + 1 %>
        max_iterations: 50
        timeout: 3600
        concurrency: 4
        retry: {count: 2, delay: 1}
        start: [check]
        tasks:
          check: {action: http.request, next: [{do: check}]}
        output: {checks: <% $ctx.checks %>}
        """,
        name="poller",
    )
    assert spec.name == "poller"
    assert spec.description == "Poll"
    assert spec.input_schema == {"url": {"type": "string"}}
    assert [key for key, _ in spec.vars] == ["checks", "next_check"]
    assert spec.vars[1][1].render(_scope(checks=2)) == 3
    assert (spec.max_iterations, spec.timeout, spec.concurrency) == (50, 3600.0, 4)
    assert isinstance(spec.timeout, float)
    assert spec.retry is not None and spec.retry.count is not None
    assert spec.retry.count.render(_scope()) == 2
    assert spec.retry.position == Position("wf.yaml", 11, 8)
    assert spec.start == ("check",)
    assert spec.output is not None and spec.output.render(_scope(checks=5)) == {"checks": 5}
    assert spec.source == "wf.yaml"
    assert spec.cap_for("check") == 50


def test_name_defaults_to_the_file_stem() -> None:
    assert load_workflow("version: 1\ntasks: {a: {}}\n", "dir/my-flow.yaml").name == "my-flow"


def test_tasks_and_transitions() -> None:
    spec = _load(
        """\
        version: 1
        tasks:
          fan:
            next:
              - do: a, b ,c
              - when: true
                do: [noop]
              - when: false
              - when: <% $succeeded() %>
                publish: {x: 1, y: <% $ctx.x + 1 %>}
                do: fail, a
          a:
            action: core.echo
            input: {message: 'n=<% $ctx.x %>'}
            timeout: 10
            delay: <% 1 + 1 %>
          b: {workflow: child, max_iterations: 3.0, next: [{do: c}]}
          c:
            join: 2
            action: net.ping
            with: {items: '<% [1, 2] %>', concurrency: 2}
            retry: {count: 3, delay: 1, backoff: 2, max_delay: 60, when: $failed()}
        """
    )
    fan = spec.tasks["fan"]
    assert fan.position == Position("wf.yaml", 3, 3)
    assert fan.is_pass_through
    first, taken, never, last = fan.next
    assert first.do == ("a", "b", "c") and first.when is None
    assert first.position == Position("wf.yaml", 5, 9)
    assert taken.do == ("noop",) and taken.commands == frozenset({"noop"})
    assert taken.when is not None and taken.when.source == "true"
    assert taken.when.holds(_scope()) is False  # no status yet: not a terminal one
    assert never.when is not None and never.when.source == "false" and never.do == ()
    assert last.when is not None and last.when.source == "$succeeded()"
    assert [key for key, _ in last.publish] == ["x", "y"]
    assert last.targets == ("a",) and last.commands == frozenset({"fail"})
    a = spec.tasks["a"]
    assert a.action is not None and a.action.render(_scope()) == "core.echo"
    assert a.input is not None and a.input.render(_scope(x=4)) == {"message": "n=4"}
    assert a.timeout is not None and a.timeout.render(_scope()) == 10
    assert a.delay is not None and a.delay.render(_scope()) == 2
    b = spec.tasks["b"]
    assert b.workflow is not None and b.max_iterations == 3 and isinstance(b.max_iterations, int)
    c = spec.tasks["c"]
    assert c.join == 2
    assert c.with_items is not None and c.with_items.items.render(_scope()) == [1, 2]
    assert c.with_items.concurrency is not None
    assert c.retry is not None and c.retry.when is not None and c.retry.when.source == "$failed()"
    assert c.retry.max_delay is not None and c.retry.max_delay.render(_scope()) == 60


def test_with_shorthand_and_conditions_are_always_expressions() -> None:
    spec = _load(
        """\
        version: 1
        vars: {xs: [1, 2, 3]}
        tasks:
          a:
            action: core.echo
            with: $ctx.xs
            retry: {when: '<% $error.type = "timeout" %>'}
            next: [{when: '$count($ctx.xs) > 2', do: b}]
          b:
            action: core.echo
            with: <% $ctx.xs[0] %>
        """
    )
    a, b = spec.tasks["a"], spec.tasks["b"]
    assert a.with_items is not None and a.with_items.items.render(_scope(xs=[1, 2])) == [1, 2]
    assert b.with_items is not None and b.with_items.items.render(_scope(xs=[7, 8])) == 7
    assert a.retry is not None and a.retry.when is not None
    assert a.retry.when.source == '$error.type = "timeout"'
    assert a.next[0].when is not None and a.next[0].when.holds(_scope(xs=[1, 2, 3]))


def test_yaml_values_stay_plain_json() -> None:
    spec = _load(
        """\
        version: 1
        vars:
          day: 2024-01-01
          at: 2024-01-01T10:00:00Z
          anchors: &shared {a: 1}
          copy: *shared
          big: 123456789012345678901234567890
        tasks: {a: {}}
        """
    )
    values = {key: template.render(_scope()) for key, template in spec.vars}
    assert values == {
        "day": "2024-01-01",
        "at": "2024-01-01T10:00:00Z",
        "anchors": {"a": 1},
        "copy": {"a": 1},
        "big": 123456789012345678901234567890,
    }


def test_join_all_and_an_entry_inside_a_cycle() -> None:
    spec = _load(
        """\
        version: 1
        start: [poll]
        tasks:
          poll: {action: svc.status, next: [{when: $failed(), do: poll}, {do: 'a, b'}]}
          a: {next: [{do: done}]}
          b: {next: [{do: done}]}
          done: {join: all}
        """
    )
    assert spec.tasks["done"].join == "all"


def test_warnings_do_not_block_loading() -> None:
    result = check_workflow(
        "version: 1\ntasks:\n  a: {action: x, input: <% $ctx.nope %>}\n", "w.yaml"
    )
    assert result.spec is not None
    assert [d.category for d in result.diagnostics] == [Category.CONTEXT]
    assert result.warnings == result.diagnostics and result.errors == []


def test_str_and_bytes_give_the_same_spec_hash() -> None:
    text = "version: 1\ndescription: café\ntasks: {a: {}}\n"
    from_str = load_workflow(text, "w.yaml")
    from_bytes = load_workflow(text.encode(), "w.yaml")
    assert from_str.content_hash == from_bytes.content_hash
    assert from_str.content_hash == hashlib.sha256(text.encode()).hexdigest()


def test_files(tmp_path: Path) -> None:
    path = tmp_path / "hello.yaml"
    path.write_text("version: 1\ntasks: {hello: {action: core.echo}}\n")
    assert load_workflow_file(path).name == "hello"
    missing = check_workflow_file(tmp_path / "missing.yaml")
    assert missing.spec is None
    assert missing.diagnostics[0].category is Category.FILE
    assert "cannot read" in missing.diagnostics[0].message
    directory = check_workflow_file(tmp_path)
    assert directory.spec is None and directory.diagnostics[0].category is Category.FILE
