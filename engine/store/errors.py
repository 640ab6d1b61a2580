"""Errors the store raises, each with a stable code the API can put in problem JSON."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""

    code = "STORE_ERROR"


class MigrationError(StoreError):
    """The migrations on disk and the ones recorded in the database disagree."""

    code = "MIGRATION_MISMATCH"


class RunNotFound(StoreError):
    """A write named a run that has no row (create the run before its workflow writes)."""

    code = "RUN_NOT_FOUND"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} does not exist")
        self.run_id = run_id


class UnknownWorkflowVersion(StoreError):
    """A run named a workflow version that was never registered."""

    code = "WORKFLOW_VERSION_NOT_FOUND"

    def __init__(self, name: str, version: int) -> None:
        super().__init__(f"workflow {name!r} has no version {version}")
        self.name = name
        self.version = version


class InvalidCursor(StoreError, ValueError):
    """A cursor or event id that this store did not make."""

    code = "INVALID_CURSOR"
