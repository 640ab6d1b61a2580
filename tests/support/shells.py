"""Completing a `segue` command line in a real shell, with the script `segue completion
SHELL` prints: what the user would be offered after pressing Tab."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.devstack import SEGUE
from tests.support.processes import ROOT

# bash: set what readline sets before calling a completion function, then call it.
_BASH = """\
source <("$SEGUE" completion bash)
read -ra COMP_WORDS <<<"$LINE"
[[ "$LINE" == *" " ]] && COMP_WORDS+=("")
COMP_LINE="$LINE"; COMP_POINT=${#LINE}; COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_TYPE=9
_python_argcomplete segue
printf '%s\\n' "${COMPREPLY[@]}"
"""
# fish completes a command line given to `complete -C` as at the prompt.
_FISH = """\
"$SEGUE" completion fish | source
complete -C "$LINE"
"""
# zsh's `_describe` only runs inside the line editor; outside it, the list the script
# hands to `_describe` is printed instead (everything before it is zsh and the script).
_ZSH = """\
autoload -U compinit && compinit -u
source <("$SEGUE" completion zsh)
_describe() { print -l -- "${(@P)2}"; }
BUFFER="$LINE"; CURSOR=${#BUFFER}; words=(${(z)LINE}); [[ "$LINE" == *" " ]] && words+=("")
_python_argcomplete
"""
SCRIPTS = {
    "bash": ["bash", "-c", _BASH],
    "fish": ["fish", "-c", _FISH],
    "zsh": ["zsh", "-f", "-c", _ZSH],
}


def have_shell(shell: str) -> bool:
    return shutil.which(shell) is not None


def complete(
    shell: str, line: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> list[str]:
    """The words the shell offers for `line` (the cursor at its end), descriptions cut off."""
    environment = {**(env if env is not None else os.environ), "SEGUE": SEGUE, "LINE": line}
    environment["PATH"] = f"{Path(SEGUE).parent}{os.pathsep}{environment.get('PATH', '')}"
    done = subprocess.run(
        SCRIPTS[shell], env=environment, cwd=cwd, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    separator = "\t" if shell == "fish" else ":"
    offered = [entry.split(separator)[0].strip() for entry in done.stdout.splitlines()]
    return [word.replace("\\:", ":") for word in offered if word]
