"""`segue dev`'s payload codec key: encrypted by default, like a deployment.

A dev stack keeps its Temporal history in a file under the data directory; without a
key the inputs, results and resolved secrets of every run would sit there in clear. So
the first start generates a key into the data directory (readable by its owner only) and
every later start reuses it. An operator's own `SEGUE_CODEC_KEYS` / `SEGUE_CODEC_KEYS_FILE`
wins: the stack then reads whatever that deployment's keys sealed.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from engine.temporal.codec import (
    KEYS_FILE_VARIABLE,
    KEYS_VARIABLE,
    CodecConfigError,
    CodecKeys,
)

KEY_FILE_NAME: Final = "codec-keys"
DEV_KEY_ID: Final = "dev1"


@dataclass(frozen=True)
class DevCodec:
    """The keys the stack uses and where they come from (for the banner)."""

    keys: CodecKeys
    source: str


def dev_codec_keys(data_dir: Path, environ: Mapping[str, str] | None = None) -> DevCodec:
    """The environment's codec keys, else the data directory's (made on first use).
    `CodecConfigError` names what is wrong with either."""
    environ = os.environ if environ is None else environ
    configured = CodecKeys.from_env(environ)
    if configured is not None:
        variable = KEYS_FILE_VARIABLE if environ.get(KEYS_FILE_VARIABLE) else KEYS_VARIABLE
        return DevCodec(configured, f"from {variable}")
    path = data_dir / KEY_FILE_NAME
    created = _create_key_file(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Another user could read every run's history through this key: refuse rather
        # than quietly tighten it, which would hide that it was exposed.
        raise CodecConfigError(
            f"{path} is readable by others (mode {mode:04o}); `chmod 600` it, and treat "
            "the key as leaked if others could have read it"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CodecConfigError(
            f"{path}: cannot read the dev codec key: {error.__class__.__name__}"
        ) from None
    keys = CodecKeys.parse(text, str(path))
    return DevCodec(keys, f"{path} ({'new' if created else 'kept'})")


def _create_key_file(path: Path) -> bool:
    """Write a new key file, owner-only from the first byte; False if one exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two starts never both write; 0o600 at creation: never readable by others.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    key = base64.b64encode(os.urandom(32)).decode()
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(
            "# segue dev's payload codec key (id:base64, docs/operations.md). Without it\n"
            "# the runs in this data directory cannot be read; keep it private.\n"
            f"{DEV_KEY_ID}:{key}\n"
        )
    return True
