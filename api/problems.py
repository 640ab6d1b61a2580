"""Every error answer is RFC 7807 problem JSON with a stable `code` (see docs/api.md).

Handlers map what the layers below raise (store, Temporal client, Litestar itself) to
problems, so route code raises and never builds error responses by hand."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from api.wire import ProblemView
from engine.store import InvalidCursor, StoreError
from engine.temporal.client import TemporalClientError, TemporalUnavailable

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:segue:problem:"

log = logging.getLogger("segue.api")

# A short, fixed title per code (RFC 7807: the title does not vary between occurrences).
TITLES: dict[str, str] = {
    "WORKFLOW_INVALID": "The workflow is not valid",
    "WORKFLOW_NOT_FOUND": "No such workflow",
    "WORKFLOW_VERSION_NOT_FOUND": "No such workflow version",
    "NAME_INVALID": "Invalid workflow name",
    "RUN_NOT_FOUND": "No such run",
    "INPUT_INVALID": "The run input does not match the workflow's input schema",
    "RUN_NOT_PAUSABLE": "The run cannot be paused",
    "RUN_NOT_RUNNING": "The run is not running",
    "TASK_NOT_WAITING": "The task is not waiting for a signal",
    "ITEM_REQUIRED": "The task waits per item: name the item",
    "ITEM_NOT_WAITING": "The item is not waiting for a signal",
    "WAIT_ALREADY_ANSWERED": "Another answer took the wait first",
    "WAIT_NOT_OPEN": "The wait has ended",
    "RUN_NOT_FAILED": "The run did not fail",
    "NOTHING_TO_RERUN": "The failed run left no task to run again",
    "RERUN_SOURCE_GONE": "The run's real secret values are no longer in Temporal",
    "EVENT_KEY_UNRESOLVED": "The event's correlation key could not be derived",
    "UNAUTHORIZED": "Missing or invalid bearer token",
    "BODY_TOO_LARGE": "The request body is too large",
    "BODY_INVALID": "The request body is nested too deeply",
    "HOST_NOT_ALLOWED": "The Host header is not allowed",
    "ORIGIN_NOT_ALLOWED": "Cross-origin request refused",
    "UNSUPPORTED_MEDIA_TYPE": "A JSON or YAML content type is required",
    "TOO_MANY_STREAMS": "Too many live streams",
    "IDEMPOTENCY_KEY_REUSED": "The Idempotency-Key was used with another request",
    "INVALID_REQUEST": "The request is malformed",
    "INVALID_CURSOR": "The cursor is not valid",
    "NOT_FOUND": "Not found",
    "METHOD_NOT_ALLOWED": "Method not allowed",
    "STORE_UNAVAILABLE": "The database is unavailable",
    "TEMPORAL_UNAVAILABLE": "Temporal is unavailable",
    "START_UNCONFIRMED": "Temporal did not confirm the start in time",
    "TEMPORAL_REFUSED": "Temporal refused the request",
    "UNHEALTHY": "The service is not ready",
    "TOO_COSTLY": "Checking the request took too much CPU",
    "BUSY": "Every checking process is busy",
    "MOCKS_INVALID": "The mocks document is not a list of valid entries",
    "MOCKS_TOO_MANY": "The mocks document has too many entries",
    "CODEC_NOT_CONFIGURED": "This deployment has no payload codec",
    "CODEC_FAILED": "A payload could not be decrypted",
    "SESSION_NOT_NEEDED": "Authentication is off: the codec routes need no session",
    "INTERNAL": "Internal server error",
}


class ApiProblem(Exception):
    """An error answer: raise it anywhere below a route handler."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}


def documented(*statuses: int, public: bool = False) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problems a route may answer (400, 401 and 503 always;
    no 401 on a `public` route)."""
    always = {400, 503} if public else {400, 401, 503}
    return {
        status: ResponseSpec(
            data_container=ProblemView,
            description=f"{HTTPStatus(status).phrase} (problem JSON)",
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in sorted({*statuses, *always})
    }


def replayed(container: Any, description: str) -> dict[int, ResponseSpec]:
    """The OpenAPI entry for a 200 answered instead of 201 when nothing new was created
    (an Idempotency-Key replay, or content already registered)."""
    return {200: ResponseSpec(data_container=container, description=description)}


class StoreUnavailable(Exception):
    """The store's pool is not open (the database was unreachable at start-up)."""


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem JSON document."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": TITLES.get(code) or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    # Extensions never replace the standard members.
    body.update({key: value for key, value in (extra or {}).items() if key not in body})
    return body


def problem_response(problem: ApiProblem) -> Response[dict[str, Any]]:
    return Response(
        problem_body(
            problem.status,
            problem.code,
            problem.detail,
            errors=problem.errors,
            extra=problem.extra,
        ),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers,
    )


def not_found(code: str, detail: str) -> ApiProblem:
    return ApiProblem(404, code, detail)


def conflict(code: str, detail: str, **extra: Any) -> ApiProblem:
    return ApiProblem(409, code, detail, extra=extra)


def store_unavailable(detail: str = "the database cannot be reached") -> ApiProblem:
    return ApiProblem(503, "STORE_UNAVAILABLE", detail, headers={"Retry-After": "5"})


# What a lower layer's message may carry that a client must not learn: where the
# deployment's services live and where its files are.
_INTERNALS = re.compile(
    r"[a-z][a-z0-9+.-]*://\S+"  # URLs
    r"|\[[0-9a-f:.]+\](?::\d+)?"  # [IPv6]:port
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"  # IPv4[:port]
    r"|\b[a-z0-9][a-z0-9.-]*:\d{2,5}\b"  # host:port
    r"|(?:/[\w.@-]+){2,}",  # file paths
    re.IGNORECASE,
)


def scrub(text: str) -> str:
    """`text` without addresses, URLs or file paths (for messages from Temporal or the
    database that reach clients)."""
    return _INTERNALS.sub("<internal>", text)


def temporal_problem(error: TemporalClientError, **extra: Any) -> ApiProblem:
    """503: Temporal cannot be reached (TEMPORAL_UNAVAILABLE) or refused the call
    (TEMPORAL_REFUSED, with Temporal's own `temporalCode`). The client learns neither
    the address of Temporal nor its raw error, which go to the log."""
    details = {"temporalCode": error.temporal_code, **extra} if error.temporal_code else extra
    if isinstance(error, TemporalUnavailable):
        log.warning("Temporal unavailable: %s", error.message)
        detail = "Temporal cannot be reached; try again shortly"
        return ApiProblem(
            503, "TEMPORAL_UNAVAILABLE", detail, extra=details, headers={"Retry-After": "5"}
        )
    detail = f"Temporal refused: {scrub(error.message)}"
    return ApiProblem(503, "TEMPORAL_REFUSED", detail, extra=details)


# ------------------------------------------------------------------ handlers

_HTTP_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "BODY_TOO_LARGE",
}


def _on_problem(_: Request[Any, Any, Any], problem: ApiProblem) -> Response[dict[str, Any]]:
    return problem_response(problem)


def _on_http(request: Request[Any, Any, Any], error: HTTPException) -> Response[dict[str, Any]]:
    status = error.status_code
    if status == 413:
        limit = request.route_handler.resolve_request_max_body_size()
        detail = f"the request body is larger than the limit of {limit} bytes"
        return problem_response(ApiProblem(413, "BODY_TOO_LARGE", detail))
    if status >= 500:
        log.error("internal error: %s", error, exc_info=error)
        return problem_response(ApiProblem(status, "INTERNAL", "the server failed"))
    code = _HTTP_CODES.get(status, f"HTTP_{status}")
    extra: dict[str, Any] = {}
    if isinstance(error, ValidationException) and error.extra:
        extra["invalid"] = error.extra
    headers = dict(error.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="segue"')
    return problem_response(ApiProblem(status, code, error.detail, extra=extra, headers=headers))


def _on_cursor(_: Request[Any, Any, Any], error: InvalidCursor) -> Response[dict[str, Any]]:
    return problem_response(ApiProblem(400, "INVALID_CURSOR", str(error)))


def _on_store_down(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    log.warning("store unavailable: %s", error)
    return problem_response(store_unavailable())


def _on_bad_value(_: Request[Any, Any, Any], error: psycopg.DataError) -> Response[dict[str, Any]]:
    """A value PostgreSQL cannot hold (a NUL character in a string, say): the client's
    input, so 400 and not 500."""
    detail = f"a value in the request cannot be stored: {scrub(str(error))}"
    return problem_response(ApiProblem(400, "INVALID_REQUEST", detail))


_STORE_ERROR_STATUS = {"RUN_NOT_FOUND": 404, "WORKFLOW_VERSION_NOT_FOUND": 404}


def _on_store_error(_: Request[Any, Any, Any], error: StoreError) -> Response[dict[str, Any]]:
    status = _STORE_ERROR_STATUS.get(error.code, 409)
    return problem_response(ApiProblem(status, error.code, str(error)))


def _on_temporal(_: Request[Any, Any, Any], error: TemporalClientError) -> Response[dict[str, Any]]:
    return problem_response(temporal_problem(error))


def _on_unexpected(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    log.error("unhandled error: %s", error, exc_info=error)
    return problem_response(ApiProblem(500, "INTERNAL", "the server failed"))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiProblem: _on_problem,
    HTTPException: _on_http,
    InvalidCursor: _on_cursor,
    StoreError: _on_store_error,
    StoreUnavailable: _on_store_down,
    psycopg.OperationalError: _on_store_down,
    psycopg.DataError: _on_bad_value,
    TemporalClientError: _on_temporal,
    Exception: _on_unexpected,
}
