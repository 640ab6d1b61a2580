"""Where the embedded stack's logs go: all of them to a file under the data directory,
errors alone to the terminal, one line each, naming the file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


class _OneLine(logging.Formatter):
    """A log record as one terminal line that says where its details are."""

    def __init__(self, log_path: Path) -> None:
        super().__init__()
        self.log_path = log_path

    def format(self, record: logging.LogRecord) -> str:
        first = record.getMessage().splitlines()[0] if record.getMessage() else record.name
        return f"segue dev: {record.levelname.lower()}: {first} (details: {self.log_path})"


def route_logs(log_path: Path) -> None:
    """Everything worth logging, tracebacks included, to `log_path`; to the terminal only
    errors, one line each. Handled action failures (the Temporal SDK logs each failed
    activity attempt as a warning with its traceback) stay out of the progress output."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(log_path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setLevel(logging.ERROR)
    to_terminal.setFormatter(_OneLine(log_path))
    root = logging.getLogger()
    for handler in root.handlers:
        handler.close()
    root.handlers = [to_file, to_terminal]
    root.setLevel(logging.WARNING)
