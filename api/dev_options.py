"""`segue dev`'s options, apart from the stack itself so that building the parser
imports nothing heavy."""

from __future__ import annotations

import argparse

DEFAULT_API_PORT = 8000
DEFAULT_TEMPORAL_PORT = 7233
DEFAULT_UI_PORT = 8233
DEFAULT_DEMO_PORT = 8090


def add_dev_arguments(parser: argparse.ArgumentParser) -> None:
    """`segue dev`'s options: where the data lives and the ports (0: any free port)."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where the stack keeps its data (default: SEGUE_DATA_DIR, else .segue)",
    )
    for flag, default, what in (
        ("--port", DEFAULT_API_PORT, "the API's port"),
        ("--temporal-port", DEFAULT_TEMPORAL_PORT, "the Temporal server's gRPC port"),
        ("--ui-port", DEFAULT_UI_PORT, "the Temporal UI's port"),
        ("--demo-port", DEFAULT_DEMO_PORT, "the demo service's port"),
    ):
        parser.add_argument(
            flag,
            type=int,
            default=default,
            metavar="N",
            help=f"{what} (default {default}; 0: any free port)",
        )
