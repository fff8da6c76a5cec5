"""RFC 9457 problem responses: one table from domain errors to HTTP."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from cropedly_adapters.request_context import request_id
from cropedly_core.api_keys import InvalidApiKey, TooManyApiKeys
from cropedly_core.domains import TooManyDomains
from cropedly_core.errors import (
    BatchRejected,
    CurrentPasswordWrong,
    DomainError,
    EmailTaken,
    ImageRejected,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    LinkInvalid,
    NotFound,
    OriginNotAllowed,
    Overloaded,
    PlanRequired,
    QuotaExceeded,
    TooManyAttempts,
    WeakPassword,
)
from cropedly_core.sign_in import SignInNotConfigured, SignInRefused, SignInUnavailable

log = logging.getLogger("cropedly.http")
# msgspec names a missing field in backticks: "Object missing required field `email`".
_BACKTICKED = re.compile(r"field `\$?\.?([A-Za-z_][A-Za-z0-9_\[\]]*)`")

PROBLEM_BASE = "https://cropedly.com/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

_STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidCredentials, 401),
    (InvalidToken, 401),
    (InvalidApiKey, 401),
    (SignInRefused, 401),
    (SignInUnavailable, 503),
    (SignInNotConfigured, 404),
    (TooManyApiKeys, 409),
    (TooManyDomains, 409),
    (TooManyAttempts, 429),
    (WeakPassword, 422),
    (CurrentPasswordWrong, 403),
    (InvalidInput, 422),
    (EmailTaken, 409),
    (PlanRequired, 403),
    (OriginNotAllowed, 403),
    (QuotaExceeded, 413),
    (LinkInvalid, 403),
    (NotFound, 404),
    (Overloaded, 503),
]
# By slug, for errors whose class the edge need not import.
_STATUS_BY_SLUG = {"storage-full": 507}

# Why each refused file is refused decides its status code.
IMAGE_STATUS = {
    "unsupported-format": 415,
    "file-too-large": 413,
    "too-many-pixels": 413,
    "decompression-bomb": 413,
    "too-many-files": 413,
    "request-too-large": 413,
    "corrupt-image": 422,
    "empty-file": 422,
    "processing-timeout": 422,
    "processing-failed": 422,
}

_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "request-too-large",
    415: "unsupported-media-type",
    416: "range-not-satisfiable",
    429: "too-many-requests",
    500: "internal-error",
    503: "unavailable",
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update(extra)
    # The id of this request (also in X-Request-Id and on its log lines): what a
    # client quotes when it reports the error.
    rid = request_id.get()
    if rid is not None:
        body["requestId"] = rid
    return Response(
        content=body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers or {}
    )


def batch_status(problems: BatchRejected) -> int:
    statuses = {IMAGE_STATUS.get(p.slug, 422) for p in problems.problems}
    return statuses.pop() if len(statuses) == 1 else 400


def _described(exc: DomainError) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The status, headers and extra members of the problem a domain error answers."""
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, BatchRejected):
        status = batch_status(exc)
        extra["errors"] = [
            {"file": p.name, "type": PROBLEM_BASE + p.slug, "detail": p.detail}
            for p in exc.problems
        ]
    elif isinstance(exc, ImageRejected):
        status = IMAGE_STATUS.get(exc.slug, 422)
    else:
        status = _STATUS_BY_SLUG.get(exc.slug) or next(
            (code for kind, code in _STATUS if isinstance(exc, kind)), 400
        )
    if isinstance(exc, TooManyAttempts | Overloaded):
        headers["Retry-After"] = str(exc.retry_after)
    if status == 503 and "Retry-After" not in headers:  # the sign-in provider is down
        headers["Retry-After"] = "30"
    if status == 507:
        headers["Retry-After"] = "60"
    if status == 401:
        headers["WWW-Authenticate"] = (
            'Bearer error="invalid_token"' if isinstance(exc, InvalidToken) else "Bearer"
        )
    if isinstance(exc, InvalidInput) and exc.field:
        extra["errors"] = [{"field": exc.field, "detail": exc.detail}]
    if isinstance(exc, PlanRequired):
        extra["requiredPlan"] = exc.plan
    return status, headers, extra


def problem_body(exc: BaseException) -> dict[str, Any]:
    """The problem JSON the same failure answers in a request (for async jobs)."""
    if isinstance(exc, DomainError):
        status, _, extra = _described(exc)
        body = {"type": PROBLEM_BASE + exc.slug, "title": exc.title, "status": status}
        return {**body, "detail": exc.detail, **extra}
    if not isinstance(exc, Exception):  # cancelled: the server is shutting down
        return {
            "type": PROBLEM_BASE + "overloaded",
            "title": "Service busy",
            "status": 503,
            "detail": "The server stopped before the job was done; nothing was stored.",
        }
    log.error("unhandled error in an async job", exc_info=exc)
    return {
        "type": PROBLEM_BASE + "internal-error",
        "title": "Server error",
        "status": 500,
        "detail": "The server could not complete the request.",
    }


def domain_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, DomainError)
    status, headers, extra = _described(exc)
    if status == 507:
        log.error("%s %s -> 507: %s", request.method, request.url.path, exc.detail)
    log.info("%s %s -> %s %s", request.method, request.url.path, status, exc.slug)
    return problem(status, exc.slug, exc.title, exc.detail, headers, **extra)


def http_exception_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    extra: dict[str, Any] = {}
    slug = _HTTP_SLUGS.get(status, f"http-{status}")
    detail = exc.detail
    if status == 400 and detail == "Request Entity Too Large":
        # Litestar's own multipart parser says so for too many parts, with a 400.
        status, slug = 413, "request-too-large"
    if isinstance(exc, ValidationException):
        # Like the core's InvalidInput: one status for one problem type.
        slug, status = "invalid-input", 422
        extra["errors"] = [
            {"field": _field_of(e), "detail": e.get("message")}
            for e in (exc.extra if isinstance(exc.extra, list) else [])
            if isinstance(e, dict)
        ]
        fields = [e["field"] for e in extra["errors"] if e["field"]]
        if fields:
            detail = f"Missing or invalid field(s): {', '.join(fields)}."
    if status == 413 and not detail.startswith("At most"):
        detail = "The request body is larger than this server accepts."
    if status >= 500:
        log.error("%s %s -> %s: %s", request.method, request.url.path, status, exc.detail)
        detail = "The server could not complete the request."
    title = {
        400: "Bad request",
        422: "Invalid input",
        415: "Unsupported media type",
        416: "Range not satisfiable",
        404: "Not found",
        405: "Method not allowed",
        413: "Request too large",
    }.get(status, exc.detail if status < 500 else "Server error")
    return problem(status, slug, title, detail, dict(exc.headers or {}), **extra)


def _field_of(error: dict[str, Any]) -> str | None:
    """The form field a validation message is about: its key, or named in the message."""
    key = error.get("key")
    if key not in (None, "data"):
        return str(key)
    found = _BACKTICKED.search(str(error.get("message", "")))
    return found.group(1) if found else None


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        500, "internal-error", "Server error", "The server could not complete the request."
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: domain_error_handler,
    HTTPException: http_exception_handler,
    Exception: unexpected_error_handler,
}
