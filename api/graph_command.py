"""`segue graph FILE|WORKFLOW`: a workflow's task graph, for a terminal or as DOT, JSON
or Mermaid. A file is compiled here; a name is asked of the API (`GET
/workflows/{name}/graph`); both are drawn from the same model, `api.graph.graph_view`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec

from api.graph import graph_view
from api.graph_text import dot_text, terminal_text
from api.validation import WORKFLOW_NAME
from api.wire import GraphView

FORMATS: Final[dict[str, Callable[[GraphView, str | None], str]]] = {
    "text": terminal_text,
    "dot": lambda view, _: dot_text(view),
    # The API's JSON, indented: a file's graph has version 0 (it is not registered).
    "json": lambda view, _: msgspec.json.format(msgspec.json.encode(view)).decode() + "\n",
    "mermaid": lambda view, _: view.mermaid,
}
WORKFLOW_SUFFIXES: Final = (".yaml", ".yml")


def graph_main(args: argparse.Namespace) -> int:
    """Print the graph; 1 for an invalid workflow or an API problem, 2 for a bad argument."""
    target: str = args.target
    is_file = Path(target).is_file()
    if not is_file and (target.endswith(WORKFLOW_SUFFIXES) or os.sep in target):
        print(f"segue graph: no such file: {target}", file=sys.stderr)
        return 2
    if is_file and args.version is not None:
        print("segue graph: --version is for a registered workflow, not a file", file=sys.stderr)
        return 2
    if not is_file and not WORKFLOW_NAME.fullmatch(target):
        print(f"segue graph: {target!r} is neither a file nor a workflow name", file=sys.stderr)
        return 2
    view = _from_file(target) if is_file else _from_api(target, args)
    if view is None:
        return 1
    sys.stdout.write(FORMATS[args.format](view, target if is_file else None))
    return 0


def _from_file(file: str) -> GraphView | None:
    from engine.language.loader import check_workflow_file

    # Registration's bound on the task count, before compiling: a file as large as the
    # loader takes (1 MiB) can hold 20,000 tasks, seconds of CPU for a drawing of them.
    result = check_workflow_file(file, bounded=True)
    if result.spec is None:
        for diagnostic in result.errors:
            print(diagnostic.format(), file=sys.stderr)
        print(f"segue graph: {file}: not a valid workflow (see `segue validate`)", file=sys.stderr)
        return None
    return graph_view(result.spec, Path(file).stem, 0)


def _from_api(name: str, args: argparse.Namespace) -> GraphView | None:
    from api.client_cli import Api, ApiProblem
    from api.found_api import find_api

    found = find_api(args.api)
    if found is None:
        print(
            f"segue graph: {name!r} is not a file, and no API was found to ask for a "
            "workflow of that name (set SEGUE_API_URL or start `segue dev`)",
            file=sys.stderr,
        )
        return None
    api = Api(found.url, args.token or os.environ.get("SEGUE_API_TOKEN"))
    params = {"version": args.version} if args.version is not None else {}
    try:
        answer = api.call("GET", f"/workflows/{name}/graph", params=params)
        return msgspec.convert(answer, GraphView, from_attributes=False)
    except ApiProblem as problem:
        print(f"segue graph: {problem}", file=sys.stderr)
    except msgspec.ValidationError as error:
        print(f"segue graph: the API's graph is not understood: {error}", file=sys.stderr)
    return None
