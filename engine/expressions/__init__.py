"""JSONata expressions: compiled once, evaluated with Segue's bindings and guardrails."""

from engine.expressions.budget import Limits
from engine.expressions.errors import ExpressionError
from engine.expressions.runtime import UNDEFINED, CompiledExpression, Scope
from engine.expressions.template import (
    CompileProblem,
    Condition,
    Template,
    compile_condition,
    compile_template,
    path_text,
)

__all__ = [
    "UNDEFINED",
    "CompileProblem",
    "CompiledExpression",
    "Condition",
    "ExpressionError",
    "Limits",
    "Scope",
    "Template",
    "compile_condition",
    "compile_template",
    "path_text",
]
