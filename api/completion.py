"""Shell completion for `segue` (bash, zsh, fish), by argcomplete.

`segue completion SHELL` prints the script a shell loads; on each Tab the shell runs
`segue` with `_ARGCOMPLETE` set, and `complete_if_asked` answers from the parser itself:
commands, options, enum values, files, and, when a stack answers within a second, the
registered workflow names and recent run ids. Nothing here is imported by a command
that is not a completion (it would cost every command its import time)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from typing import Any, Final

SHELLS: Final = ("bash", "zsh", "fish")
# A completion must not hang the shell: a stack that does not answer in this time
# offers no names, and the rest (commands, options, files) still completes.
API_TIMEOUT_SECONDS: Final = 1.0
RECENT_RUNS: Final = 50

Completer = Callable[..., Iterable[str]]


def completes(action: argparse.Action, completer: Completer) -> None:
    """Attach a completer to an argument (argcomplete reads the `completer` attribute)."""
    action.completer = completer  # type: ignore[attr-defined]


def add_completion_command(commands: Any) -> None:
    command = commands.add_parser(
        "completion",
        help="print the shell completion script (bash, zsh or fish)",
        description="Print a script that makes the shell complete segue's commands, "
        "options and values. bash: `source <(segue completion bash)` (or save it under "
        "~/.local/share/bash-completion/completions/segue); zsh: `source <(segue "
        "completion zsh)` after compinit; fish: `segue completion fish | source` (or "
        "save it as ~/.config/fish/completions/segue.fish).",
    )
    command.add_argument("shell", type=str.lower, choices=SHELLS)


def completion_main(shell: str) -> int:
    from argcomplete.shell_integration import shellcode

    print(shellcode(["segue"], shell=shell), end="")
    return 0


def complete_if_asked(parser: argparse.ArgumentParser) -> None:
    """When the shell asks for completions, answer and end the process; else nothing."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    argcomplete.autocomplete(parser)


def workflow_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Registered workflows (from the stack the command would talk to)."""
    answer = _ask(parsed_args, "/workflows", {})
    workflows = answer.get("workflows", []) if isinstance(answer, dict) else []
    return _starting(prefix, (str(item.get("name", "")) for item in workflows))


def limit_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Concurrency limits in use (from the stack the command would talk to)."""
    answer = _ask(parsed_args, "/limits", {})
    limits = answer.get("limits", []) if isinstance(answer, dict) else []
    return _starting(prefix, (str(item.get("name", "")) for item in limits))


def files_or_workflows(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Workflow files here and registered workflow names."""
    import argcomplete.completers

    files = argcomplete.completers.FilesCompleter(("yaml", "yml"))(prefix)
    return [*files, *workflow_names(prefix, parsed_args)]


def run_ids(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """The most recent runs' ids."""
    answer = _ask(parsed_args, "/runs", {"limit": RECENT_RUNS})
    runs = answer.get("runs", []) if isinstance(answer, dict) else []
    return _starting(prefix, (str(run.get("runId", "")) for run in runs))


def words(*choices: str) -> Completer:
    """A fixed list of words (for an option whose type converts, so it has no `choices`)."""

    def complete(prefix: str, **_: Any) -> list[str]:
        return _starting(prefix, choices)

    return complete


def _starting(prefix: str, candidates: Iterable[str]) -> list[str]:
    return [candidate for candidate in candidates if candidate and candidate.startswith(prefix)]


def _ask(parsed_args: argparse.Namespace, path: str, params: dict[str, Any]) -> Any:
    """GET from the stack `segue` would use; None when there is none or it fails."""
    import httpx

    from api.found_api import find_api

    found = find_api(getattr(parsed_args, "api", None))
    if found is None:
        return None
    token = getattr(parsed_args, "token", None) or os.environ.get("SEGUE_API_TOKEN")
    headers = {"x-segue-client": "segue-cli"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    try:
        response = httpx.get(
            found.url + path, params=params, headers=headers, timeout=API_TIMEOUT_SECONDS
        )
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
