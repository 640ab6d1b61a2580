"""The flags of `segue api`, apart from the server so that building the `segue` parser
imports nothing heavy (start-up: docs/performance.md)."""

from __future__ import annotations

import argparse


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `segue api`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--insecure-dev",
        action="store_true",
        help="serve without a token (only on a loopback host; for local development)",
    )
