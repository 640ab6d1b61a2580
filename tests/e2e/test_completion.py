"""`segue completion SHELL`: the script, loaded by the real shell, completes commands,
options and their values, and files (workflow names and run ids: test_cli_commands)."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from tests.support.devstack import SEGUE
from tests.support.processes import clean_env
from tests.support.shells import complete, have_shell

SHELLS = [
    pytest.param(
        shell, marks=pytest.mark.skipif(not have_shell(shell), reason=f"{shell} is not installed")
    )
    for shell in ("bash", "zsh", "fish")
]
# (command line as typed, words that must be offered, words that must not)
CASES = [
    ("segue gr", {"graph"}, {"run"}),
    ("segue ", {"validate", "run", "graph", "completion", "events", "--version"}, set()),
    ("segue graph --format ", {"text", "dot", "json", "mermaid"}, set()),
    ("segue runs --status ", {"running", "succeeded", "failed", "canceled"}, {"timed"}),
    ("segue completion ", {"bash", "zsh", "fish"}, set()),
    ("segue run --de", {"--detach"}, {"--input"}),
    ("segue events ", {"send"}, set()),
    ("segue graph examples/retry", {"examples/retry-with-cycle.yaml"}, set()),
    ("segue validate examples/conditional", {"examples/conditional-loop.yaml"}, set()),
]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("line", "offered", "not_offered"), CASES)
def test_the_shell_completes(
    shell: str, line: str, offered: set[str], not_offered: set[str]
) -> None:
    words = set(complete(shell, line, env=clean_env()))
    assert offered <= words, words
    assert not (not_offered & words), words


@pytest.mark.parametrize("answers", ["refuses", "never answers"])
def test_a_stack_that_fails_offers_options_only_and_quickly(answers: str) -> None:
    """Run ids come from the stack; one that refuses or hangs costs at most the
    completion's 1 s timeout, and the options still complete."""
    with socket.socket() as silent:  # accepts connections (the backlog), never reads
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1] if answers == "never answers" else 9
        env = clean_env(SEGUE_API_URL=f"http://127.0.0.1:{port}")
        started = time.monotonic()
        complete("bash", "segue trace --", env=env)  # options only: nothing asks the stack
        baseline = time.monotonic() - started
        started = time.monotonic()
        words = complete("bash", "segue trace ", env=env)
        elapsed = time.monotonic() - started
    assert words and all(word.startswith("-") for word in words), words
    # What the stack costs beyond starting the completer (seconds under load): the 1 s
    # timeout and some slack, measured against the same process doing no request.
    assert elapsed - baseline < 3, (elapsed, baseline)


@pytest.mark.parametrize("shell", ["powershell", "", "bash; rm"])
def test_an_unknown_shell_is_refused(shell: str) -> None:
    done = subprocess.run(
        [SEGUE, "completion", shell], env=clean_env(), capture_output=True, text=True
    )
    assert done.returncode == 2 and "invalid choice" in done.stderr and done.stdout == ""


def test_the_script_names_the_command() -> None:
    for shell in ("bash", "zsh", "fish"):
        script = subprocess.run(
            [SEGUE, "completion", shell.upper()], env=clean_env(), capture_output=True, text=True
        )
        assert (
            script.returncode == 0 and "segue" in script.stdout and "_ARGCOMPLETE" in script.stdout
        )
