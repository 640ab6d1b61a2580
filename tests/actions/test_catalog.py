"""The catalog: built-ins, entry points (good, broken, clashing, packs), retry defaults."""

from __future__ import annotations

import asyncio
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from engine.actions import ActionCatalog, ActionContext, ActionDefinition, Placement, invoke

BUILTINS = [
    "core.approval",
    "core.echo",
    "core.fail",
    "core.noop",
    "core.sleep",
    "core.wait_event",
    "http.request",
    "shell.run",
]


def entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group="segue.actions")


def test_builtins() -> None:
    catalog = ActionCatalog.from_environment(entry_points=[])
    assert catalog.names() == BUILTINS
    assert catalog.problems == []
    in_workflow = {n for n in catalog.names() if catalog.placement(n) is Placement.WORKFLOW}
    assert in_workflow == {
        "core.noop",
        "core.echo",
        "core.fail",
        "core.sleep",
        "core.wait_event",
        "core.approval",
    }
    assert catalog.placement("http.request") is Placement.LOCAL_ACTIVITY
    assert catalog.placement("shell.run") is Placement.ACTIVITY
    assert catalog.placement("nope.nope") is None
    assert catalog.local_actions() == ["http.request"]
    assert catalog.runs_in_workflow("core.sleep") and not catalog.runs_in_workflow("http.request")
    assert not catalog.runs_in_workflow("nope.nope")
    assert catalog.source("core.echo") == "built-in"
    assert "http.request" in catalog and "nope.nope" not in catalog
    assert [d.name for d in catalog] == BUILTINS and len(catalog) == len(BUILTINS)


def test_installed_entry_points_are_read_without_crashing() -> None:
    catalog = ActionCatalog.from_environment()
    assert set(BUILTINS) <= set(catalog.names())


def test_retry_defaults() -> None:
    catalog = ActionCatalog.builtin()
    assert catalog.retry_defaults() == {
        "http.request": {"count": 0, "delay": 1, "backoff": 2, "max_delay": 30}
    }
    # a copy: callers cannot change the catalog through it
    catalog.retry_defaults()["http.request"]["count"] = 9
    assert catalog.retry_defaults()["http.request"]["count"] == 0


def test_valid_entry_points(context: ActionContext) -> None:
    catalog = ActionCatalog.from_environment(
        entry_points=[
            entry("words.shout", "tests.actions.plugins:shout"),
            entry("ignored.name", "tests.actions.plugins:DEFINITION"),
            entry("words.pack", "tests.actions.plugins:PACK"),
        ]
    )
    assert catalog.problems == []
    shout = catalog.get("words.shout")
    assert shout is not None and not shout.is_async
    assert shout.description == "Upper-case the input text."
    assert catalog.get("words.reverse") is not None  # a definition keeps its own name
    assert catalog.get("ignored.name") is None
    whisper = catalog.get("words.pack.whisper")  # pack members: <entry point>.<key>
    assert whisper is not None and whisper.is_async and whisper.description == "quiet"
    assert catalog.get("words.pack.shout") is not None
    assert "entry point 'words.pack' (tests.actions.plugins:PACK)" in str(
        catalog.source("words.pack.shout")
    )

    async def calls() -> list[Any]:
        return [
            await invoke(catalog, "words.shout", "hi", context),
            await invoke(catalog, "words.reverse", "abc", context),
            await invoke(catalog, "words.pack.whisper", "LOW", context),
        ]

    assert asyncio.run(calls()) == ["HI", "cba", "low"]


@pytest.mark.parametrize(
    ("entry_point", "problem"),
    [
        (
            entry("words.missing", "tests.actions.no_such_module:thing"),
            "could not be loaded: ModuleNotFoundError: "
            "No module named 'tests.actions.no_such_module'",
        ),
        (
            entry("words.broken", "tests.actions.broken_plugin:thing"),
            "could not be loaded: RuntimeError: plugin bug at import time",
        ),
        (
            entry("words.attr", "tests.actions.plugins:no_such_attribute"),
            "could not be loaded: AttributeError",
        ),
        (
            entry("core.shout", "tests.actions.plugins:CLASHING"),
            "action 'core.echo' is already provided by built-in",
        ),
        (
            entry("Bad", "tests.actions.plugins:shout"),
            "action name 'Bad' is invalid",
        ),
        (
            entry("single", "tests.actions.plugins:shout"),
            "action name 'single' is invalid",
        ),
        (entry("words.bad", "tests.actions.plugins:BAD_NAME"), "action name 'Bad-Name' is invalid"),
        (
            entry("words.number", "tests.actions.plugins:NOT_AN_ACTION"),
            "'words.number' is int; expected an ActionDefinition, a handler function, or a dict",
        ),
        (
            entry("words.class", "tests.actions.plugins:A_CLASS"),
            "is the class ActionDefinition; expected",
        ),
        (
            entry("words.arity", "tests.actions.plugins:wrong_arity"),
            "must accept two positional arguments (input, context)",
        ),
        (entry("words.empty", "tests.actions.plugins:EMPTY_PACK"), "the pack is empty"),
        (
            entry("words.inside", "tests.actions.plugins:IN_WORKFLOW"),
            "action 'words.inside.sneaky' declares placement 'workflow'; only Segue's built-in "
            "actions run in the workflow; plugins run as activities",
        ),
        (
            entry("words.partial", "tests.actions.plugins:BAD_PACK_MEMBER"),
            "'words.partial.broken' is str",
        ),
    ],
    ids=lambda value: value.name if isinstance(value, EntryPoint) else "",
)
def test_bad_plugins_are_problems_not_crashes(entry_point: EntryPoint, problem: str) -> None:
    catalog = ActionCatalog.from_environment(entry_points=[entry_point])
    assert len(catalog.problems) == 1, catalog.problems
    assert catalog.problems[0].startswith(f"entry point {entry_point.name!r} ({entry_point.value})")
    assert problem in catalog.problems[0]
    # The built-ins are intact; of a pack, the good members stay.
    assert [n for n in catalog.names() if not n.startswith("words.inside.")] == BUILTINS
    plugins = [n for n in catalog.names() if n not in BUILTINS]
    assert all(catalog.placement(n) is Placement.ACTIVITY for n in plugins)


def test_one_bad_plugin_does_not_hide_the_others(caplog: pytest.LogCaptureFixture) -> None:
    catalog = ActionCatalog.from_environment(
        entry_points=[
            entry("words.broken", "tests.actions.broken_plugin:thing"),
            entry("core", "tests.actions.plugins:PARTLY_CLASHING"),
            entry("words.shout", "tests.actions.plugins:shout"),
            entry("more.shout", "tests.actions.plugins:DEFINITION"),
            entry("again.shout", "tests.actions.plugins:DEFINITION"),
        ]
    )
    assert "core.ok" in catalog and "words.shout" in catalog and "words.reverse" in catalog
    assert catalog.source("core.echo") == "built-in"
    assert len(catalog.problems) == 3
    assert "already provided by built-in" in catalog.problems[1]
    assert "'words.reverse' is already provided by entry point 'more.shout'" in catalog.problems[2]
    assert [r.getMessage() for r in caplog.records] == [
        f"action catalog: {p}" for p in catalog.problems
    ]


def test_constructor_refuses_bad_definitions() -> None:
    noop = ActionCatalog.builtin().get("core.noop")
    assert noop is not None
    with pytest.raises(ValueError, match="already provided"):
        ActionCatalog([noop, noop])
    with pytest.raises(ValueError, match="invalid"):
        ActionCatalog([ActionDefinition("noop", noop.handler)])


def test_suggestions() -> None:
    catalog = ActionCatalog.builtin()
    assert catalog.suggest("core.ecko") == ["core.echo"]
    assert catalog.suggest("echo") == ["core.echo"]
    assert catalog.suggest("htp.request") == ["http.request"]
    assert catalog.suggest("web.request") == ["http.request"]
    assert catalog.suggest("zzz.qqq") == []
