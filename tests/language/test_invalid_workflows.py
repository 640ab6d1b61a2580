"""Invalid workflows, each with the findings `segue validate` must report, where and why.

Every case lists all of its findings: (line, column, category, severity, message fragment).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest

from engine.actions.catalog import ActionCatalog
from engine.diagnostics import Category, Diagnostic, Severity, WorkflowInvalid
from engine.language.deployment import Deployment
from engine.language.loader import check_workflow, load_workflow

E, W = Severity.ERROR, Severity.WARNING
FILE, YAML, SCHEMA = Category.FILE, Category.YAML, Category.SCHEMA
NAME, REFERENCE, GRAPH = Category.NAME, Category.REFERENCE, Category.GRAPH
EXPRESSION, CONTEXT = Category.EXPRESSION, Category.CONTEXT

Finding = tuple[int, int, Category, Severity, str]


@dataclass(frozen=True)
class Case:
    id: str
    yaml: str
    findings: list[Finding]


CASES = [
    # --- YAML: the file must be one well-formed document of plain values ---------------
    Case(
        "duplicate key",
        """\
        version: 1
        tasks:
          a: {action: x}
          a: {action: y}
        """,
        [(4, 3, YAML, E, "duplicate key 'a' (first defined at line 3, column 3)")],
    ),
    Case(
        "non-string key",
        """\
        version: 1
        tasks:
          1: {action: x}
        """,
        [(3, 3, YAML, E, "mapping keys must be strings, but YAML reads '1' as integer 1")],
    ),
    Case(
        "yes as a key is a boolean in YAML 1.1",
        """\
        version: 1
        tasks:
          on: {action: x}
        """,
        [(3, 3, YAML, E, "reads 'on' as boolean true; quote it: 'on'")],
    ),
    Case(
        "python tag",
        """\
        version: 1
        tasks:
          a: !!python/object/apply:os.system [ls]
        """,
        [(3, 6, YAML, E, "tag not allowed: !!python/object/apply:os.system")],
    ),
    Case(
        "custom tag",
        """\
        version: 1
        tasks:
          a: {action: !secret x}
        """,
        [(3, 15, YAML, E, "tag not allowed: !secret")],
    ),
    Case(
        "timestamp tag",
        """\
        version: 1
        vars: {at: !!timestamp 2024-01-01}
        tasks: {a: {}}
        """,
        [(2, 12, YAML, E, "tag not allowed: !!timestamp")],
    ),
    Case(
        "not a number",
        """\
        version: 1
        vars: {x: .nan, y: -.inf}
        tasks: {a: {}}
        """,
        [
            (2, 11, YAML, E, "'.nan' is not a finite number"),
            (2, 20, YAML, E, "'-.inf' is not a finite number"),
        ],
    ),
    Case(
        "not well-formed",
        """\
        version: 1
        tasks: [a
        """,
        [(3, 1, YAML, E, "not well-formed YAML: did not find expected ',' or ']'")],
    ),
    Case(
        "tab indentation",
        "version: 1\ntasks:\n\ta: {}\n",
        [(3, 1, YAML, E, "a tab: YAML indents with spaces only")],
    ),
    Case(
        "two documents",
        """\
        version: 1
        tasks: {a: {}}
        ---
        version: 1
        """,
        [(3, 1, YAML, E, "more than one YAML document")],
    ),
    Case("empty file", "# nothing here\n", [(1, 1, YAML, E, "the file is empty")]),
    Case(
        "top level is a list",
        "- version: 1\n",
        [(1, 1, YAML, E, "a workflow must be a mapping, but the file is a list")],
    ),
    Case(
        "undefined alias",
        """\
        version: 1
        tasks: {a: *nothing}
        """,
        [(2, 12, YAML, E, "alias *nothing names no anchor before it")],
    ),
    Case(
        "alias that contains itself",
        """\
        version: 1
        vars: {x: &loop [*loop]}
        tasks: {a: {}}
        """,
        [(2, 11, YAML, E, "an alias refers to a value that contains it")],
    ),
    Case(
        "control character",
        'version: 1\ntasks: {a: {action: "x\x07"}}\n',
        [(2, 23, YAML, E, "character U+0007 (a control character) is not allowed")],
    ),
    # --- SCHEMA: the shape of the document ----------------------------------------------
    Case(
        "missing tasks and version",
        "description: nothing\n",
        [
            (1, 1, SCHEMA, E, "missing required top-level key 'version'"),
            (1, 1, SCHEMA, E, "missing required top-level key 'tasks'"),
        ],
    ),
    Case(
        "wrong version",
        """\
        version: 2
        tasks: {a: {}}
        """,
        [(1, 10, SCHEMA, E, "version must be 1 (the only version of the language), got 2")],
    ),
    Case(
        "unknown key in a task, pointed at the key",
        """\
        version: 1
        tasks:
          check:
            acton: http.request
        """,
        [(4, 5, SCHEMA, E, "task 'check': unknown key 'acton' (did you mean 'action'?)")],
    ),
    Case(
        "unknown top-level key",
        """\
        version: 1
        taks: {}
        tasks: {a: {}}
        """,
        [(2, 1, SCHEMA, E, "unknown top-level key 'taks' (did you mean 'tasks'?)")],
    ),
    Case(
        "merge keys are just keys",
        """\
        version: 1
        tasks:
          a: &a {action: x}
          b:
            <<: *a
        """,
        [(5, 5, SCHEMA, E, "task 'b': unknown key '<<' (YAML merge keys are not supported")],
    ),
    Case(
        "unknown key in a transition",
        """\
        version: 1
        tasks:
          a:
            next:
              - do: b
                publsh: {x: 1}
          b: {}
        """,
        [(6, 9, SCHEMA, E, "task 'a': next[0]: unknown key 'publsh' (did you mean 'publish'?)")],
    ),
    Case(
        "join must be all or a count",
        """\
        version: 1
        tasks:
          a: {join: any}
        """,
        [(3, 13, SCHEMA, E, "task 'a': join must be 'all' or an integer >= 1, got 'any'")],
    ),
    Case(
        "join zero",
        """\
        version: 1
        tasks:
          a: {join: 0}
        """,
        [(3, 13, SCHEMA, E, "join must be 'all' or an integer >= 1, got 0")],
    ),
    Case(
        "task is not a mapping",
        """\
        version: 1
        tasks:
          a:
          b: [x]
        """,
        [
            (
                3,
                5,
                SCHEMA,
                E,
                "task 'a' must be a mapping of task keys (action, input, next, …), got null",
            ),
            (4, 6, SCHEMA, E, "task 'b' must be a mapping of task keys"),
        ],
    ),
    Case(
        "empty tasks and start",
        """\
        version: 1
        start: []
        tasks: {}
        """,
        [
            (2, 8, SCHEMA, E, "start must be a non-empty list of task names, got an empty list"),
            (3, 8, SCHEMA, E, "tasks must be a mapping of at least one task name to its task"),
        ],
    ),
    Case(
        "run says local or activity, for a task that runs an action",
        """\
        version: 1
        tasks:
          a: {action: x.y, run: remote, next: [{do: b}]}
          b: {action: x.y, run: LOCAL, next: [{do: c}]}
          c: {action: x.y, run: [local], next: [{do: d}]}
          d: {action: x.y, run: null, next: [{do: e}]}
          e: {run: local, next: [{do: f}]}
          f: {workflow: other, run: activity}
        """,
        [
            (3, 25, SCHEMA, E, "task 'a': run must be `local` or `activity`, got 'remote'"),
            (4, 25, SCHEMA, E, "task 'b': run must be `local` or `activity`, got 'LOCAL'"),
            (5, 25, SCHEMA, E, "task 'c': run must be `local` or `activity`, got a list"),
            (6, 25, SCHEMA, E, "task 'd': run must be `local` or `activity`, got null"),
            (7, 7, SCHEMA, E, "task 'e': `run` says where an action runs, and this task runs no"),
            (8, 24, SCHEMA, E, "task 'f': `run` says where an action runs, and this task runs a"),
        ],
    ),
    Case(
        "numbers out of range",
        """\
        version: 1
        max_iterations: 0
        timeout: 0
        concurrency: many
        tasks:
          a: {max_iterations: 1.5, timeout: -1, delay: soon}
        """,
        [
            (2, 17, SCHEMA, E, "max_iterations must be an integer >= 1, got 0"),
            (3, 10, SCHEMA, E, "timeout must be a number of seconds > 0, got 0"),
            (4, 14, SCHEMA, E, "concurrency must be an integer >= 1, got 'many'"),
            (6, 23, SCHEMA, E, "task 'a': max_iterations must be an integer >= 1, got 1.5"),
            (
                6,
                37,
                SCHEMA,
                E,
                "task 'a': timeout must be a number of seconds >= 0 or an expression",
            ),
            (
                6,
                48,
                SCHEMA,
                E,
                "task 'a': delay must be a number of seconds >= 0 or an expression `<% … %>`, "
                "got 'soon'",
            ),
        ],
    ),
    Case(
        "with: unknown key, missing items, bad concurrency",
        """\
        version: 1
        tasks:
          a: {action: x, with: {items: [1], concurency: 2}}
          b: {action: x, with: {concurrency: 2}}
          c: {action: x, with: {items: [1], concurrency: 0}}
        """,
        [
            (
                3,
                37,
                SCHEMA,
                E,
                "task 'a': with: unknown key 'concurency' (did you mean 'concurrency'?)",
            ),
            (4, 24, SCHEMA, E, "task 'b': with: missing required key 'items'"),
            (
                5,
                50,
                SCHEMA,
                E,
                "task 'c': with.concurrency must be an integer >= 1 or an expression",
            ),
        ],
    ),
    Case(
        "transition values",
        """\
        version: 1
        tasks:
          a:
            next:
              - when: 3
                publish: [x]
                do: [b, 7]
          b: {}
        """,
        [
            (
                5,
                15,
                SCHEMA,
                E,
                "task 'a': next[0].when must be an expression (a string) or true/false, got 3",
            ),
            (
                6,
                18,
                SCHEMA,
                E,
                "task 'a': next[0].publish must be a mapping of variable names to values, "
                "got a list",
            ),
            (
                7,
                17,
                SCHEMA,
                E,
                "task 'a': next[0].do[1] must be a task name (a non-empty string), got 7",
            ),
        ],
    ),
    Case(
        "retry fields",
        """\
        version: 1
        retry: {cnt: 1}
        tasks:
          a: {action: x, retry: {count: -1, backoff: 0.5, when: 1}}
        """,
        [
            (2, 9, SCHEMA, E, "retry: unknown key 'cnt' (did you mean 'count'?)"),
            (4, 33, SCHEMA, E, "task 'a': retry.count must be an integer >= 0 or an expression"),
            (4, 46, SCHEMA, E, "task 'a': retry.backoff must be a number >= 1 or an expression"),
            (
                4,
                57,
                SCHEMA,
                E,
                "task 'a': retry.when must be a JSONata expression (a string), got 1",
            ),
        ],
    ),
    Case(
        "input must map names to JSON Schemas",
        """\
        version: 1
        input:
          url: {type: strin}
          n: 3
        tasks: {a: {}}
        """,
        [
            (3, 15, SCHEMA, E, "input 'url' is not a valid JSON Schema: 'strin' is not valid"),
            (
                4,
                6,
                SCHEMA,
                E,
                "input.n must be a JSON Schema mapping (use {} to accept any value), got 3",
            ),
        ],
    ),
    Case(
        "an input schema that is not a JSON Schema",
        """\
        version: 1
        input:
          url: {type: strin}
        tasks: {a: {}}
        """,
        [(3, 15, SCHEMA, E, "input 'url' is not a valid JSON Schema: 'strin' is not valid")],
    ),
    Case(
        "long values are cut short in messages",
        "version: 1\ntasks:\n  a: {join: " + "x" * 500 + "}\n",
        [(3, 13, SCHEMA, E, "got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…'")],
    ),
    Case(
        "with needs something to run",
        """\
        version: 1
        tasks:
          a: {with: '<% [1, 2] %>'}
        """,
        [(3, 7, SCHEMA, E, "task 'a': `with` needs an `action` or a `workflow`")],
    ),
    Case(
        "action and workflow together",
        """\
        version: 1
        tasks:
          a: {action: x, workflow: y}
        """,
        [(3, 18, SCHEMA, E, "task 'a' has both `action` and `workflow`")],
    ),
    # --- SCHEMA and semantic findings of the readable rest, in one pass ------------------
    Case(
        "an unknown key hides no semantic error; a suggested key only mutes its own checks",
        """\
        version: 1
        tasks:
          noop: {}
          a:
            acton: core.echo
            with: <% [1] %>
            next: [{do: b}]
          b:
            action: core.echo
            input: '<% $ctx. %>'
            next: [{do: 'c, d'}]
          c: {join: 2, next: [{do: nowhere}]}
          d: {}
        """,
        [
            (3, 3, NAME, E, "task name 'noop' is reserved"),
            (5, 5, SCHEMA, E, "task 'a': unknown key 'acton' (did you mean 'action'?)"),
            # no "`with` needs an action" for task a: its `action` is what the typo meant
            (10, 20, EXPRESSION, E, "task 'b': input: expression '$ctx.' does not compile"),
            (12, 28, REFERENCE, E, "task 'c': next[0].do: no task named 'nowhere'"),
            (12, 13, GRAPH, E, "task 'c': join needs at least two distinct source tasks"),
        ],
    ),
    Case(
        "an unknown key that resembles nothing mutes the graph and context checks",
        """\
        version: 1
        tasks:
          a:
            on-success: [{do: b}]
            input: <% $ctx.x %>
          b: {join: all, next: [{do: c}]}
        """,
        [
            (4, 5, SCHEMA, E, "task 'a': unknown key 'on-success' (expected one of: action,"),
            (6, 30, REFERENCE, E, "task 'b': next[0].do: no task named 'c'"),
        ],
    ),
    Case(
        "bad values are dropped; names and transition numbers stay as written",
        """\
        version: 1
        tasks:
          a:
          b:
            next:
              - 3
              - {do: a, publish: [x]}
              - {when: '$ctx.', do: [nope, 7]}
              - {do: ghost}
          c:
            action: x
            with: {concurrency: 2}
            join: any
            input: <% $ctx.x %>
        """,
        [
            (3, 5, SCHEMA, E, "task 'a' must be a mapping of task keys"),
            (6, 9, SCHEMA, E, "task 'b': next[0] must be a transition mapping"),
            (7, 26, SCHEMA, E, "task 'b': next[1].publish must be a mapping"),
            (8, 21, EXPRESSION, E, "task 'b': next[2].when: expression '$ctx.' does not compile"),
            (8, 36, SCHEMA, E, "task 'b': next[2].do[1] must be a task name"),
            (9, 14, REFERENCE, E, "task 'b': next[3].do: no task named 'ghost'"),
            (12, 11, SCHEMA, E, "task 'c': with: missing required key 'items'"),
            (13, 11, SCHEMA, E, "task 'c': join must be 'all' or an integer >= 1, got 'any'"),
        ],
    ),
    Case(
        "without a readable tasks mapping only the schema speaks",
        """\
        version: 1
        taks: {a: {next: [{do: b}]}}
        vars: {v: <% 1 + %>}
        """,
        [
            (1, 1, SCHEMA, E, "missing required top-level key 'tasks'"),
            (2, 1, SCHEMA, E, "unknown top-level key 'taks' (did you mean 'tasks'?)"),
        ],
    ),
    # --- NAME ---------------------------------------------------------------------------
    Case(
        "reserved and invalid task names",
        """\
        version: 1
        tasks:
          start: {next: [{do: noop}, {do: my task}, {do: 1st}]}
          noop: {}
          my task: {}
          1st: {}
        """,
        [
            (
                4,
                3,
                NAME,
                E,
                "task name 'noop' is reserved: continue, fail, noop and retry are engine commands",
            ),
            (5, 3, NAME, E, "invalid task name 'my task': a name starts with a letter or _"),
            (6, 3, NAME, E, "invalid task name '1st'"),
        ],
    ),
    # --- REFERENCE ----------------------------------------------------------------------
    Case(
        "undefined do target in a comma string, with a suggestion",
        """\
        version: 1
        tasks:
          check:
            next:
              - do: report, wiat
          report: {}
          wait: {}
        """,
        [
            (
                5,
                21,
                REFERENCE,
                E,
                "task 'check': next[0].do: no task named 'wiat' (did you mean 'wait'?)",
            ),
        ],
    ),
    Case(
        "undefined do target in a list; misspelled command",
        """\
        version: 1
        tasks:
          a:
            next:
              - do: [b, nop]
          b: {}
        """,
        [(5, 17, REFERENCE, E, "task 'a': next[0].do: no task named 'nop' (did you mean 'noop'?)")],
    ),
    Case(
        "stray comma",
        """\
        version: 1
        tasks:
          a: {next: [{do: 'b,,'}]}
          b: {}
        """,
        [(3, 19, REFERENCE, E, "task 'a': next[0].do: an empty name (a stray comma?)")],
    ),
    Case(
        "undefined start entry",
        """\
        version: 1
        start: [chek]
        tasks:
          check: {next: [{do: check}]}
        """,
        [(2, 9, REFERENCE, E, "start: no task named 'chek' (did you mean 'check'?)")],
    ),
    # --- GRAPH --------------------------------------------------------------------------
    Case(
        "no entry task",
        """\
        version: 1
        tasks:
          a: {next: [{do: b}]}
          b: {next: [{do: a}]}
        """,
        [
            (
                2,
                1,
                GRAPH,
                E,
                "no task without inbound transitions; name the entry tasks with `start:`",
            )
        ],
    ),
    Case(
        "join with one source",
        """\
        version: 1
        tasks:
          a: {next: [{do: b}, {when: $failed(), do: b}]}
          b: {join: all}
        """,
        [
            (
                4,
                13,
                GRAPH,
                E,
                "task 'b': join needs at least two distinct source tasks, but only 'a' leads here",
            )
        ],
    ),
    Case(
        "join count above the sources",
        """\
        version: 1
        tasks:
          a: {next: [{do: 'b, c'}]}
          b: {next: [{do: d}]}
          c: {next: [{do: d}]}
          d: {join: 3}
        """,
        [
            (
                6,
                13,
                GRAPH,
                E,
                "task 'd': join: 3 can never fire: only 2 distinct tasks lead here (b, c)",
            )
        ],
    ),
    Case(
        "an unreachable island is a warning: it never runs",
        """\
        version: 1
        tasks:
          a: {}
          b: {next: [{do: c}]}
          c: {next: [{do: b}]}
        """,
        [
            (
                4,
                3,
                GRAPH,
                W,
                "task 'b' is unreachable: no path leads to it from the entry tasks (a), so it "
                "never runs",
            ),
            (5, 3, GRAPH, W, "task 'c' is unreachable"),
        ],
    ),
    Case(
        "start leaves a task without a way in",
        """\
        version: 1
        start: [a]
        tasks:
          a: {next: [{do: a}]}
          b: {}
        """,
        [
            (
                5,
                3,
                GRAPH,
                W,
                "task 'b' is unreachable: no path leads to it from the entry tasks (a), so it "
                "never runs (add it to `start:`?)",
            )
        ],
    ),
    Case(
        "a task listed twice in start, at the second mention",
        """\
        version: 1
        start: [a, b, a, nope, nope]
        tasks:
          a: {next: [{do: b}]}
          b: {next: [{do: a}]}
        """,
        [
            (2, 15, GRAPH, E, "start: task 'a' is listed more than once; each entry task starts"),
            (2, 18, REFERENCE, E, "start: no task named 'nope'"),
            (2, 24, GRAPH, E, "start: task 'nope' is listed more than once"),
        ],
    ),
    Case(
        "join: all waiting for an unreachable source",
        """\
        version: 1
        start: [a]
        tasks:
          a: {next: [{do: j}]}
          island: {next: [{do: j}]}
          j: {join: all}
        """,
        [
            (5, 3, GRAPH, W, "task 'island' is unreachable"),
            (
                6,
                13,
                GRAPH,
                E,
                "task 'j': join: all can never fire: island is unreachable, and only 1 of its "
                "source tasks can run (a)",
            ),
        ],
    ),
    Case(
        "join: N above its runnable sources",
        """\
        version: 1
        start: [a]
        tasks:
          a: {next: [{do: 'b, j'}]}
          b: {next: [{do: j}]}
          c: {next: [{do: j}]}
          d: {next: [{do: j}]}
          j: {join: 3}
        """,
        [
            (6, 3, GRAPH, W, "task 'c' is unreachable"),
            (7, 3, GRAPH, W, "task 'd' is unreachable"),
            (8, 13, GRAPH, E, "task 'j': join: 3 can never fire: c, d are unreachable, and only 2"),
        ],
    ),
    # --- EXPRESSION ---------------------------------------------------------------------
    Case(
        "syntax error in a condition, at its column",
        """\
        version: 1
        tasks:
          a:
            next:
              - when: '$succeeded() and ($result.x'
        """,
        [
            (
                5,
                42,
                EXPRESSION,
                E,
                "task 'a': next[0].when: expression '$succeeded() and ($result.x' does not "
                "compile: Expected )",
            )
        ],
    ),
    Case(
        "syntax error inside interpolated input",
        """\
        version: 1
        tasks:
          a: {action: x, input: {msg: 'Hello <% $ctx. %>!'}}
        """,
        [(3, 45, EXPRESSION, E, "task 'a': input.msg: expression '$ctx.' does not compile")],
    ),
    Case(
        "multi-line expression is reported at its node",
        """\
        version: 1
        tasks:
          a:
            next:
              - when: >-
                  $succeeded() and
                  $ctx.x = = 1
        """,
        [(5, 15, EXPRESSION, E, "expression '$succeeded() and $ctx.x = = 1' does not compile")],
    ),
    Case(
        "empty condition and bad retry.when, with-items shorthand, vars, output",
        """\
        version: 1
        vars: {v: <% 1 + %>}
        tasks:
          a:
            action: x
            with: $ctx.v[
            retry: {when: '<% ) %>'}
            next: [{when: ''}]
        output: <% $ctx.v.( %>
        """,
        [
            (2, 16, EXPRESSION, E, "vars.v: expression '1 +' does not compile"),
            (6, 17, EXPRESSION, E, "task 'a': with: expression '$ctx.v[' does not compile"),
            (7, 23, EXPRESSION, E, "task 'a': retry.when: expression ')' does not compile"),
            (
                8,
                19,
                EXPRESSION,
                E,
                "task 'a': next[0].when: expression '' does not compile: empty expression",
            ),
            (9, 19, EXPRESSION, E, "output: expression '$ctx.v.(' does not compile"),
        ],
    ),
    # --- CONTEXT (warnings) -------------------------------------------------------------
    Case(
        "a read that no path assigns",
        """\
        version: 1
        input: {url: {}}
        tasks:
          fetch:
            action: http.get
            input: {url: <% $ctx.url %>, token: <% $ctx.token %>}
        """,
        [
            (
                6,
                44,
                CONTEXT,
                W,
                "task 'fetch': input.token reads $ctx.token, but no path to task 'fetch' "
                "assigns it",
            )
        ],
    ),
    Case(
        "published on one branch only is still assigned on some path",
        """\
        version: 1
        tasks:
          a:
            next:
              - {when: $succeeded(), publish: {x: 1}, do: c}
              - {when: $failed(), do: b}
          b: {next: [{do: c}]}
          c: {action: y, input: <% $ctx.x %>, next: [{publish: {z: <% $ctx.x + $ctx.z %>}}]}
        """,
        [
            (
                8,
                72,
                CONTEXT,
                W,
                "task 'c': next[0].publish.z reads $ctx.z, but no path to task 'c' assigns it",
            )
        ],
    ),
    Case(
        "vars read inputs and earlier vars only; publish keys see earlier keys",
        """\
        version: 1
        input: {n: {}}
        vars:
          a: <% $ctx.n + $ctx.b %>
          b: <% $ctx.a %>
        tasks:
          t:
            next:
              - publish: {p: <% $ctx.q %>, q: 1, r: <% $ctx.q + $ctx.p %>}
        """,
        [
            (
                4,
                18,
                CONTEXT,
                W,
                "vars.a reads $ctx.b, which is neither an input nor an earlier var",
            ),
            (9, 25, CONTEXT, W, "task 't': next[0].publish.p reads $ctx.q"),
        ],
    ),
    Case(
        "output sees every publish; guarded reads are not warned",
        """\
        version: 1
        tasks:
          t: {next: [{publish: {done: true}}]}
        output:
          done: <% $ctx.done %>
          maybe: '<% $exists($ctx.maybe) ? $ctx.maybe : null %>'
          other: '<% $ctx.other ? $ctx.other : 0 %>'
          missing: <% $ctx.missing %>
        """,
        [
            (
                8,
                15,
                CONTEXT,
                W,
                "output.missing reads $ctx.missing, which is not an input or var and is "
                "published by no transition",
            )
        ],
    ),
    Case(
        "a misspelt read gets the nearest name assigned on the way (input, var or publish)",
        """\
        version: 1
        input: {hostname: {}}
        vars: {retries: 0}
        tasks:
          a: {next: [{publish: {healthy: true}, do: b}]}
          b:
            action: x
            input: {h: <% $ctx.hostnme %>, r: <% $ctx.retires %>, ok: <% $ctx.helthy %>}
            next: [{publish: {z: <% $ctx.zzz %>}}]
        """,
        [
            (8, 19, CONTEXT, W, "input.h reads $ctx.hostnme (did you mean 'hostname'?), but no"),
            (8, 42, CONTEXT, W, "input.r reads $ctx.retires (did you mean 'retries'?), but no"),
            (8, 66, CONTEXT, W, "input.ok reads $ctx.helthy (did you mean 'healthy'?), but no"),
            (9, 29, CONTEXT, W, "next[0].publish.z reads $ctx.zzz, but no path"),
        ],
    ),
    Case(
        "one warning per name and place",
        """\
        version: 1
        tasks:
          t: {action: x, input: '<% $ctx.a & $ctx.a & $ctx.b %>'}
        """,
        [
            (3, 25, CONTEXT, W, "task 't': input reads $ctx.a"),  # twice in the scalar: its start
            (3, 47, CONTEXT, W, "task 't': input reads $ctx.b"),
        ],
    ),
]


def _actual(diagnostic: Diagnostic) -> tuple[int, int, Category, Severity, str]:
    assert diagnostic.position is not None, diagnostic
    position = diagnostic.position
    return (
        position.line,
        position.column,
        diagnostic.category,
        diagnostic.severity,
        diagnostic.message,
    )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_findings(case: Case) -> None:
    result = check_workflow(textwrap.dedent(case.yaml), "w.yaml")
    actual = [_actual(d) for d in result.diagnostics]
    unmatched = list(actual)
    for line, column, category, severity, fragment in case.findings:
        match = next(
            (
                found
                for found in unmatched
                if found[:4] == (line, column, category, severity) and fragment in found[4]
            ),
            None,
        )
        assert match is not None, f"missing {(line, column, category, fragment)}; got {actual}"
        unmatched.remove(match)
    assert not unmatched, f"unexpected findings: {unmatched}"
    has_errors = any(severity is E for *_, severity, _ in case.findings)
    assert (result.spec is None) == has_errors


def test_many_problems_are_reported_at_once_in_file_order() -> None:
    text = textwrap.dedent(
        """\
        version: 1
        vars: {greeting: hi}
        tasks:
          retry: {}
          check:
            action: http.request
            input: {url: <% $ctx.url %>}
            next:
              - when: $succeeded() and
                do: reprot
              - when: $failed()
                do: noop
          report:
            join: all
            action: core.echo
            input: {message: <% $ctx.greeting %>}
          orphan: {next: [{do: orphan}]}
        """
    )
    result = check_workflow(text, "many.yaml")
    assert result.spec is None
    assert [d.format() for d in result.diagnostics] == [
        "many.yaml:4:3: error[name]: task name 'retry' is reserved: continue, fail, noop and "
        "retry are engine commands in `do`",
        "many.yaml:7:21: warning[context]: task 'check': input.url reads $ctx.url, but no path "
        "to task 'check' assigns it; declare it in `input` or `vars`, or publish it on the way",
        "many.yaml:9:30: error[expression]: task 'check': next[0].when: expression "
        "'$succeeded() and' does not compile: Unexpected end of expression",
        "many.yaml:10:13: error[reference]: task 'check': next[0].do: no task named 'reprot' "
        "(did you mean 'report'?)",
        "many.yaml:14:11: error[graph]: task 'report': join needs at least two distinct source "
        "tasks, but no task leads here",
        "many.yaml:17:3: warning[graph]: task 'orphan' is unreachable: no path leads to it "
        "from the entry tasks (retry, check, report), so it never runs",
    ]


def test_load_workflow_raises_with_every_error() -> None:
    text = "version: 1\ntasks:\n  a: {next: [{do: b}]}\n  noop: {}\n"
    with pytest.raises(WorkflowInvalid) as raised:
        load_workflow(text, "w.yaml")
    messages = [d.message for d in raised.value.diagnostics]
    assert any("no task named 'b'" in message for message in messages)
    assert any("reserved" in message for message in messages)
    assert "w.yaml:3:19: error[reference]" in str(raised.value)


def test_not_utf8_is_a_file_error_at_its_line() -> None:
    result = check_workflow(b"version: 1\ntasks:\n  a: {action: \xff}\n", "w.yaml")
    assert [
        (d.position.line, d.position.column, d.category) for d in result.diagnostics if d.position
    ] == [(3, 15, FILE)]
    assert "not valid UTF-8" in result.diagnostics[0].message


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_pure_python_parser_agrees(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml the same findings come out (syntax errors are worded by each parser)."""
    text = textwrap.dedent(case.yaml)
    with_libyaml = check_workflow(text, "w.yaml").diagnostics
    monkeypatch.setattr("yaml.__with_libyaml__", False)
    without = check_workflow(text, "w.yaml").diagnostics
    if any("not well-formed YAML" in d.message for d in with_libyaml):
        assert [d.category for d in without] == [d.category for d in with_libyaml]
    else:
        assert without == with_libyaml


def test_run_cannot_move_an_action_the_workflow_carries_out() -> None:
    """Where the installed actions are known (`segue validate`, `POST /workflows`)."""
    text = textwrap.dedent(
        """\
        version: 1
        tasks:
          nap: {action: core.sleep, input: {seconds: 1}, run: local, next: [{do: call}]}
          call: {action: http.request, input: {url: "http://x"}, run: activity}
        """
    )
    result = check_workflow(text, "w.yaml", deployment=Deployment(ActionCatalog.builtin()))
    assert [d.format() for d in result.diagnostics] == [
        "w.yaml:3:50: error[schema]: task 'nap': core.sleep runs in the workflow itself; "
        "`run: local` cannot move it (leave `run` out)"
    ]
