"""Reuse the real API harness of tests/api: uvicorn on loopback, a real worker, the real
Temporal dev server and a fresh PostgreSQL database (package-scoped here too)."""

from tests.api.conftest import api_database, harness

__all__ = ["api_database", "harness"]
