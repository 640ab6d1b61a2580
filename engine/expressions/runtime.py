"""Compiled JSONata with Segue's bindings, deterministic clock and randomness, and guardrails.

jsonata-python's own limits are attached to the expression object and misbehave when it
is reused (FACTS.md), so every evaluation gets a fresh frame with its own time and depth
budget. Results come back as plain JSON values; JSONata `undefined` is `UNDEFINED`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from jsonata import Jsonata
from jsonata.functions import Functions
from jsonata.jexception import JException
from jsonata.utils import Utils

from engine.expressions.budget import (
    DEFAULT_LIMITS,
    Budget,
    BudgetExceeded,
    Limits,
    compile_bounded,
    serialised_length,
    spending,
)
from engine.expressions.errors import ExpressionError
from engine.expressions.secrets import SecretUnknown, secret_function, secret_names


class _Undefined:
    """JSONata's `undefined`: distinct from JSON null (None)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()


@dataclass(slots=True)
class Scope:
    """Everything an expression may see. Built by the coordinator for each evaluation site."""

    ctx: Mapping[str, Any]
    run: Mapping[str, Any]
    now_ms: int
    seed: str  # run id plus the evaluation's position: makes $random/$uuid replay-stable
    task: Mapping[str, Any] | None = None
    status: str | None = None  # status of the task whose transitions are evaluated
    result: Any = UNDEFINED
    error: Any = UNDEFINED
    item: Any = UNDEFINED
    index: Any = UNDEFINED
    task_status: Callable[[str], str | None] | None = None
    limits: Limits = DEFAULT_LIMITS
    secrets: Mapping[str, str] | None = None  # the run's resolved `$secret` values
    _rng: random.Random | None = field(default=None, repr=False)

    def rng(self) -> random.Random:
        if self._rng is None:
            digest = hashlib.sha256(self.seed.encode()).digest()
            self._rng = random.Random(int.from_bytes(digest[:8], "big"))
        return self._rng


TERMINAL_STATUSES: Final = frozenset({"succeeded", "failed", "canceled"})


def _to_jsonata(value: Any) -> Any:
    """A bound variable of JSON null must be JSONata null, not undefined."""
    if value is None:
        return Utils.NULL_VALUE
    return value


def to_plain(value: Any) -> Any:
    """Convert a JSONata result to plain JSON values (None = null, UNDEFINED = undefined).

    Only a top-level None means undefined: JSONata itself drops undefined members when it
    builds arrays and objects, so a None inside a container is a null from the data.
    """
    if value is None:
        return UNDEFINED
    return _plain_member(value)


def _plain_member(value: Any) -> Any:
    if value is None or value is Utils.NULL_VALUE:
        return None
    if isinstance(value, dict):
        return {str(k): _plain_member(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_member(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, (str, int, bool, float)):
        return value
    if callable(value) or isinstance(value, Jsonata.JFunctionCallable):
        raise TypeError("an expression evaluated to a function, which is not data")
    raise TypeError(
        f"an expression evaluated to an unsupported value of type {type(value).__name__}"
    )


def millis_to_iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class _Refused(Exception):
    """A function Segue withholds was called."""


def _unavailable(name: str) -> Callable[..., Any]:
    def refuse(*_args: Any) -> Any:
        raise _Refused(f"${name}() is not available in Segue expressions")

    return refuse


_EVAL_REFUSED: Final = Jsonata.JLambda(_unavailable("eval"))


def _bindings(scope: Scope, names: frozenset[str]) -> dict[str, Any]:
    """The variables and functions of LANGUAGE.md §2 that an expression mentions.

    Only names the expression's source contains are bound: a function can only be
    reached through its `$name`, and binding a dozen closures per evaluation would
    cost more than most expressions take to run.
    """
    bindings: dict[str, Any] = {}
    for name in names:
        make = _BINDERS.get(name)
        if make is not None:
            value = make(scope)
            if value is not UNDEFINED:
                bindings[name] = value  # None binds JSONata undefined
    return bindings


def _now(scope: Scope) -> Any:
    def now(picture: str | None = None, timezone: str | None = None) -> str | None:
        if picture is None and timezone is None:
            return millis_to_iso(scope.now_ms)
        result: str | None = Functions.datetime_from_millis(scope.now_ms, picture, timezone)
        return result

    return Jsonata.JLambda(now)


def _shuffle(scope: Scope) -> Any:
    def shuffle(values: Any) -> Any:
        if values is None:
            return None
        items = list(values) if isinstance(values, list) else [values]
        scope.rng().shuffle(items)
        return items

    return Jsonata.JLambda(shuffle)


def _task_status(scope: Scope) -> Any:
    def task_status(name: str) -> Any:
        found = scope.task_status(name) if scope.task_status else None
        return Utils.NULL_VALUE if found is None else found

    return Jsonata.JLambda(task_status)


def _uuid(scope: Scope) -> Any:
    return Jsonata.JLambda(lambda: str(uuid.UUID(int=scope.rng().getrandbits(128), version=4)))


_BINDERS: Final[dict[str, Callable[[Scope], Any]]] = {
    "ctx": lambda scope: scope.ctx,
    "run": lambda scope: scope.run,
    "task": lambda scope: UNDEFINED if scope.task is None else scope.task,
    "result": lambda scope: UNDEFINED if scope.result is UNDEFINED else _to_jsonata(scope.result),
    # Always bound: unbound, `$error` would name JSONata's built-in error() function.
    "error": lambda scope: None if scope.error is UNDEFINED else _to_jsonata(scope.error),
    "item": lambda scope: UNDEFINED if scope.item is UNDEFINED else _to_jsonata(scope.item),
    "index": lambda scope: scope.index,
    "now": _now,
    "nowIso": lambda scope: Jsonata.JLambda(lambda: millis_to_iso(scope.now_ms)),
    "millis": lambda scope: Jsonata.JLambda(lambda: scope.now_ms),
    "random": lambda scope: Jsonata.JLambda(lambda: scope.rng().random()),
    "uuid": _uuid,
    "shuffle": _shuffle,
    "eval": lambda scope: _EVAL_REFUSED,
    "succeeded": lambda scope: Jsonata.JLambda(lambda: scope.status == "succeeded"),
    "failed": lambda scope: Jsonata.JLambda(lambda: scope.status == "failed"),
    "completed": lambda scope: Jsonata.JLambda(lambda: scope.status in TERMINAL_STATUSES),
    "task_status": _task_status,
    "secret": lambda scope: secret_function(scope.secrets),
}

_NAME: Final = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _check_size(value: Any, expression: str, limit: int) -> None:
    if isinstance(value, (dict, list)) or (isinstance(value, str) and len(value) > limit // 4):
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        if size > limit:
            raise ExpressionError(
                f"result is {size} bytes, over the limit of {limit} bytes",
                expression=expression,
            )


class CompiledExpression:
    """One JSONata expression, parsed once per workflow version."""

    __slots__ = ("_compiled", "_names", "_native", "secret_names", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._names = frozenset(_NAME.findall(source))
        try:
            compiled = compile_bounded(source)
        except JException as error:
            raise ExpressionError(
                _message(error), expression=source, offset=_offset(error)
            ) from None
        except Exception as error:  # the parser lets a few plain exceptions escape
            raise ExpressionError(f"syntax error: {error}", expression=source) from None
        compiled.set_validate_input(False)
        compiled.set_output_convert_nulls(False)
        self._compiled = compiled
        self.secret_names = (
            secret_names(compiled.ast, source) if "secret" in self._names else frozenset[str]()
        )
        from engine.expressions.native import translate

        self._native = translate(compiled.ast)

    @property
    def is_native(self) -> bool:
        """Whether the expression normally runs on the direct Python evaluator."""
        return self._native is not None

    def evaluate(self, scope: Scope) -> Any:
        """Evaluate against a scope; the plain JSON result, or UNDEFINED."""
        if self._native is not None:
            from engine.expressions.native import NotNative

            try:
                value = self._native(scope)
            except NotNative:
                pass
            else:
                _check_size(value, self.source, scope.limits.max_result_bytes)
                return value
        return self.evaluate_with_jsonata(scope)

    def evaluate_with_jsonata(self, scope: Scope) -> Any:
        """Evaluate with jsonata-python itself (the reference for the direct evaluator)."""
        bindings = _bindings(scope, self._names)
        limits = scope.limits
        budget = Budget(limits)
        # Every evaluation, not only those with a function or a range: a path over data
        # can multiply too (`$ctx.items.$ctx.items`), and the count is what decides.
        bindings["__evaluate_entry"] = budget.enter
        bindings["__evaluate_exit"] = budget.leave
        try:
            with spending(budget):
                raw = self._compiled.evaluate(None, bindings)
            # A value of shared references can be far larger written out than held:
            # measure it (giving up early) before anything walks all of it.
            if serialised_length(raw, 8 * limits.max_result_bytes) > 8 * limits.max_result_bytes:
                raise BudgetExceeded(
                    f"its result is over the limit of {limits.max_result_bytes} bytes"
                )
            value = to_plain(raw)
        except BudgetExceeded as error:
            raise ExpressionError(f"expression stopped: {error}", expression=self.source) from None
        except JException as error:
            raise ExpressionError(_message(error), expression=self.source) from None
        except RecursionError:
            raise ExpressionError("expression nests too deeply", expression=self.source) from None
        except (_Refused, SecretUnknown) as error:
            raise ExpressionError(str(error), expression=self.source) from None
        except ExpressionError:
            raise
        except Exception as error:  # jsonata-python lets ValueError, TypeError, … escape
            raise ExpressionError(
                f"{type(error).__name__}: {error}", expression=self.source
            ) from None
        _check_size(value, self.source, limits.max_result_bytes)
        return value


# Distinct expression texts whose compiled form a process keeps. A workflow repeats its
# expressions (`$succeeded()`, `$ctx.x`, `$result.value` on every task) and a new version
# mostly repeats the last one's; parsing costs ~0.1 ms each, so a 5,000-task file spent
# most of its compile time parsing the same few texts again. A compiled expression holds
# no state of its own between evaluations, so one copy serves every place that names it.
EXPRESSION_CACHE_SIZE: Final = 4096


@lru_cache(maxsize=EXPRESSION_CACHE_SIZE)
def compile_expression(source: str) -> CompiledExpression:
    """The compiled form of an expression text, shared (`ExpressionError` if it fails)."""
    return CompiledExpression(source)


def _message(error: JException) -> str:
    text = str(error) or getattr(error, "error", "") or type(error).__name__
    return text


def _offset(error: JException) -> int | None:
    location = getattr(error, "location", None)
    return location if isinstance(location, int) and location >= 0 else None
