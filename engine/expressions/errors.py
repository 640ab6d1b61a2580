"""The one error type for everything that goes wrong while compiling or evaluating JSONata."""

from __future__ import annotations


class ExpressionError(Exception):
    """An expression failed to compile or evaluate.

    `field` names where the expression sits (e.g. `next[0].when`, `input.url`), `task`
    the task whose evaluation failed; the coordinator fills in what it knows.
    """

    def __init__(
        self,
        message: str,
        *,
        expression: str,
        field: str | None = None,
        task: str | None = None,
        offset: int | None = None,
        kind: str = "expression",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.field = field
        self.task = task
        self.offset = offset
        self.kind = kind  # the error entry's type: `expression`, or a limit's own

    def located(self, *, field: str | None = None, task: str | None = None) -> ExpressionError:
        """The same error with the field and task filled in where still unknown."""
        return ExpressionError(
            self.message,
            expression=self.expression,
            field=self.field or field,
            task=self.task or task,
            offset=self.offset,
            kind=self.kind,
        )

    def describe(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"task {self.task!r}" if self.task else "",
                f"field {self.field}" if self.field else "",
            )
            if part
        )
        prefix = f"{where}: " if where else ""
        if not self.expression:
            return f"{prefix}{self.message}"
        return f"{prefix}{self.message} in expression {self.expression!r}"
