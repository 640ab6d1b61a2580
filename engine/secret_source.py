"""Where a deployment's named secrets come from: `SEGUE_SECRET_<NAME>` environment
variables, then files named `<name>` in `SEGUE_SECRETS_DIR` (a mounted secrets volume).

Read only outside workflow code — by the `segue.resolve_secrets` activity, whose result
Temporal records, and by `segue simulate` — so a replay never reads the process again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from engine.expressions.secrets import SECRET_NAME
from engine.masking import MIN_MASKED_LENGTH

ENV_PREFIX: Final = "SEGUE_SECRET_"
DIR_VARIABLE: Final = "SEGUE_SECRETS_DIR"
MAX_SECRET_BYTES: Final = 64 * 1024
SECRET_UNKNOWN: Final = "secret_unknown"


class SecretUnavailable(Exception):
    """A secret a run needs is missing or unusable; the message says which and why."""

    code = SECRET_UNKNOWN


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def resolve_secrets(
    names: Iterable[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The value of each named secret; `SecretUnavailable` naming the first that fails."""
    environ = os.environ if environ is None else environ
    directory = environ.get(DIR_VARIABLE)
    values: dict[str, str] = {}
    for name in sorted(set(names)):
        if not SECRET_NAME.fullmatch(name):
            raise SecretUnavailable(f"{name[:70]!r} is not a secret name")
        value = environ.get(env_name(name))
        if value is None and directory:
            value = _from_file(Path(directory), name)
        if value is None:
            where = f"a file {name!r} in {DIR_VARIABLE}" if directory else DIR_VARIABLE
            raise SecretUnavailable(
                f"secret {name!r} is not provided: set {env_name(name)} or {where}"
            )
        if len(value) < MIN_MASKED_LENGTH:
            # Masking works by value: a 2-character secret cannot be hidden in text.
            raise SecretUnavailable(
                f"secret {name!r} is {len(value)} character(s) long: named secrets need at "
                f"least {MIN_MASKED_LENGTH} so that they can be masked"
            )
        if len(value.encode()) > MAX_SECRET_BYTES:
            raise SecretUnavailable(
                f"secret {name!r} is over {MAX_SECRET_BYTES // 1024} KiB: secrets are tokens "
                "and passwords, not files to ship"
            )
        values[name] = value
    return values


def _from_file(directory: Path, name: str) -> str | None:
    path = directory / name
    if not path.is_file():
        return None
    with path.open("rb") as file:
        data = file.read(MAX_SECRET_BYTES + 3)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretUnavailable(f"secret file {name!r} is not UTF-8 text") from None
    # Editors and `echo` end files with a newline that is no part of the secret.
    return text.removesuffix("\n").removesuffix("\r")
