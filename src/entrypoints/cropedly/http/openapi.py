"""The OpenAPI document, complete and honest, and a docs page that works offline.

Litestar documents what the handlers return; the errors come from exception
handlers (``problems.py``) that it cannot see, and its default 400 is a shape this
server never sends. ``complete_openapi`` therefore rewrites every operation's
error responses once, from ``OPERATIONS``: operation id -> the statuses it can
answer and the problem types behind each. Every error response is the one
``Problem`` schema (RFC 9457) as ``application/problem+json``.

The docs page is Redoc, served from the package (``static/``), so ``/schema``
renders with no internet access.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.datastructures import CacheControlHeader
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import OpenAPIRenderPlugin, RedocRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.types import Method

from cropedly.http.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from cropedly_core.images.formats import TRAITS
from cropedly_core.users import Plan

STATIC_DIR = Path(__file__).resolve().parent / "static"
SCHEMA_PATH = "/schema"
STATIC_PATH = "/static"
DOCS_JS = "redoc.standalone.js"
PROBLEM = "Problem"
PROBLEM_REF = f"#/components/schemas/{PROBLEM}"
# Every image type the server stores and so serves (results and catalog originals).
IMAGE_MEDIA_TYPES = tuple(traits.mime_type for traits in TRAITS.values())

# ------------------------------------------------------------------ problem types
# Grouped as problems.py answers them; each operation lists the groups it can meet.
FORM_400 = ("invalid-input", "bad-request")  # missing form field / malformed multipart
QUERY_400 = ("invalid-input",)  # a query parameter missing or out of range
TOKEN_401 = ("invalid-token",)
PLAN_403 = ("pro-plan-required", "enterprise-plan-required", "origin-not-allowed")
ENTERPRISE_403 = ("enterprise-plan-required", "origin-not-allowed")
BODY_413 = ("request-too-large",)
FILES_413 = (
    "request-too-large",
    "file-too-large",
    "too-many-pixels",
    "decompression-bomb",
    "too-many-files",
    "images-rejected",
)
FILES_415 = ("unsupported-format", "images-rejected")
FILES_422 = (
    "invalid-input",
    "corrupt-image",
    "empty-file",
    "processing-timeout",
    "processing-failed",
    "images-rejected",
)
# A batch whose refused files have different statuses answers 400 (problems.batch_status).
FILES_400 = ("bad-request", "images-rejected")
LINK_403 = ("link-invalid",)
SERVER_500 = ("internal-error",)

REASONS = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Server error",
    503: "Service busy",
    507: "Insufficient storage",
}
# Notes that say more than the problem types do.
NOTES = {
    400: "`errors[].field` names each missing or invalid field.",
    401: "Send `Authorization: Bearer <token>` from POST /auth/v1/login.",
    429: "Wait `Retry-After` seconds.",
    503: "Too many images are being processed; retry after `Retry-After` seconds.",
    507: "The server's storage is full; nothing was stored.",
}


@dataclass(frozen=True)
class Documented:
    """What one operation can answer besides its success."""

    method: str
    path: str
    errors: Mapping[int, Sequence[str]]
    download: bool = False  # a signed-link download: image bytes, 206, 304, 416
    notes: Mapping[int, str] = field(default_factory=dict)


_REF = "Enterprise: `referenceId` names no image of the caller's catalog."
CATALOG = "/images/v1/enterprise-resources/images"

# Operation id -> route and the statuses it can answer (read from the route modules
# and problems.py; tests/e2e/test_openapi.py provokes each one and checks it is listed).
OPERATIONS: dict[str, Documented] = {
    "getServiceInfo": Documented("GET", "/", {}),
    "getHealth": Documented("GET", "/health", {}),
    "getJwks": Documented("GET", "/.well-known/jwks.json", {}),
    "login": Documented(
        "POST",
        "/auth/v1/login",
        {
            400: FORM_400,
            401: ("invalid-credentials",),
            413: BODY_413,
            429: ("too-many-attempts",),
        },
        notes={401: "Wrong e-mail, wrong password and password-less accounts alike."},
    ),
    "register": Documented(
        "POST",
        "/auth/v1/register",
        {
            400: FORM_400,
            409: ("email-taken",),
            413: BODY_413,
            422: ("invalid-input", "weak-password"),
        },
    ),
    "getMe": Documented("GET", "/auth/v1/me", {401: TOKEN_401}),
    "forgotPassword": Documented(
        "POST",
        "/auth/v1/forgot-password",
        {400: FORM_400, 413: BODY_413, 429: ("too-many-attempts",)},
        notes={429: "At most 3 requests per e-mail per 30 minutes."},
    ),
    "resetPassword": Documented(
        "POST",
        "/auth/v1/reset-password",
        {400: FORM_400, 403: LINK_403, 413: BODY_413, 422: ("weak-password",)},
        notes={403: "The reset token is malformed, used, expired or superseded."},
    ),
    "enhanceImages": Documented(
        "POST",
        "/images/v1",
        {
            400: FILES_400,
            401: TOKEN_401,
            403: PLAN_403,
            404: ("not-found",),
            413: FILES_413,
            415: FILES_415,
            422: FILES_422,
            503: ("overloaded",),
        },
        notes={
            400: "Malformed multipart, or refused files with different statuses "
            "(each named in `errors`).",
            404: _REF,
        },
    ),
    "downloadResult": Documented(
        "GET",
        "/images/v1/results/{result_id}",
        {400: QUERY_400, 403: LINK_403, 404: ("not-found",)},
        download=True,
        notes={
            400: "`expires` or `sig` is missing.",
            403: "The link's signature is wrong or it has expired.",
            404: "The result is gone (expired and purged).",
        },
    ),
    "uploadReferenceImages": Documented(
        "POST",
        f"{CATALOG}/upload",
        {
            400: FILES_400,
            401: TOKEN_401,
            403: ENTERPRISE_403,
            413: (*FILES_413, "quota-exceeded"),
            415: FILES_415,
            422: FILES_422,
            503: ("overloaded",),
        },
    ),
    "listReferenceImages": Documented(
        "GET",
        CATALOG,
        {400: QUERY_400, 401: TOKEN_401, 403: ENTERPRISE_403, 422: ("invalid-input",)},
        notes={400: "`limit` is not a whole number from 1 to 200.", 422: "Unknown `cursor`."},
    ),
    "getReferenceImage": Documented(
        "GET",
        f"{CATALOG}/{{image_id}}",
        {401: TOKEN_401, 403: ENTERPRISE_403, 404: ("not-found",)},
        notes={404: "Unknown ids and other accounts' ids alike."},
    ),
    "deleteReferenceImages": Documented(
        "DELETE",
        CATALOG,
        {401: TOKEN_401, 403: ENTERPRISE_403, 422: ("invalid-input",)},
        notes={422: "No id, or more than 100."},
    ),
    "downloadReferenceImage": Documented(
        "GET",
        f"{CATALOG}/{{image_id}}/content",
        {400: QUERY_400, 403: LINK_403, 404: ("not-found",)},
        download=True,
        notes={
            400: "`expires` or `sig` is missing.",
            403: "The link's signature is wrong or it has expired.",
            404: "The image was deleted.",
        },
    ),
}
_BY_ROUTE = {(d.method, d.path): operation_id for operation_id, d in OPERATIONS.items()}

# ------------------------------------------------------------------- operation ids


def operation_id(
    route_handler: HTTPRouteHandler, http_method: Method, path_components: list[Any]
) -> str:
    """``OpenAPIConfig.operation_id_creator``: the readable id of ``OPERATIONS``.

    A route missing from the table gets its handler's name in camelCase (and the
    OpenAPI test fails until the table documents it).
    """
    path = "/" + "/".join(
        part if isinstance(part, str) else "{" + part.name + "}" for part in path_components
    )
    method = str(getattr(http_method, "value", http_method)).upper()
    found = _BY_ROUTE.get((method, path.rstrip("/") or "/"))
    if found:
        return found
    head, *rest = route_handler.handler_name.split("_")
    return head + "".join(word.capitalize() for word in rest)


# ------------------------------------------------------------------------- schema


def problem_schema() -> Schema:
    """RFC 9457 problem details, as every error of this API is."""
    return Schema(
        type=OpenAPIType.OBJECT,
        title=PROBLEM,
        description="RFC 9457 problem details, sent as `application/problem+json` with "
        "every error. `type` is stable and machine-readable; `title` and `detail` are for "
        "people.",
        required=["type", "title", "status", "detail"],
        properties={
            "type": Schema(
                type=OpenAPIType.STRING,
                format="uri",  # type: ignore[arg-type]
                description=f"`{PROBLEM_BASE}<slug>`, e.g. `{PROBLEM_BASE}invalid-token`.",
            ),
            "title": Schema(type=OpenAPIType.STRING, description="Short summary of the type."),
            "status": Schema(
                type=OpenAPIType.INTEGER,
                minimum=400,
                maximum=599,
                description="The HTTP status code.",
            ),
            "detail": Schema(type=OpenAPIType.STRING, description="What happened, this time."),
            "instance": Schema(
                type=OpenAPIType.STRING,
                format="uri-reference",  # type: ignore[arg-type]
                description="This occurrence, when the server names it.",
            ),
            "errors": Schema(
                type=OpenAPIType.ARRAY,
                description="Per field (`field`) or per refused file (`file`, with its own "
                "`type`): everything that was wrong, not just the first.",
                items=Schema(
                    type=OpenAPIType.OBJECT,
                    properties={
                        "field": Schema(
                            type=[OpenAPIType.STRING, OpenAPIType.NULL],
                            description="The form field or query parameter (null when "
                            "the body as a whole is malformed).",
                        ),
                        "file": Schema(
                            type=OpenAPIType.STRING, description="The file name as uploaded."
                        ),
                        "type": Schema(
                            type=OpenAPIType.STRING,
                            format="uri",  # type: ignore[arg-type]
                            description="Why this file was refused, e.g. "
                            f"`{PROBLEM_BASE}unsupported-format`.",
                        ),
                        "detail": Schema(type=OpenAPIType.STRING),
                    },
                ),
            ),
            "requiredPlan": Schema(
                type=OpenAPIType.STRING,
                enum=[plan.value for plan in Plan if plan is not Plan.FREE],
                description="With `…/pro-plan-required` and `…/enterprise-plan-required`: "
                "the plan the endpoint needs.",
            ),
        },
    )


def _header(description: str, kind: OpenAPIType = OpenAPIType.STRING) -> OpenAPIHeader:
    return OpenAPIHeader(schema=Schema(type=kind), description=description)


RETRY_AFTER = _header("Seconds to wait before trying again.", OpenAPIType.INTEGER)
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": _header('`Bearer`, or `Bearer error="invalid_token"`.')},
    416: {"Content-Range": _header("`bytes */<size>`: the file's size.")},
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}
_BLOB_HEADERS = {
    "ETag": _header("Strong validator; send it back in `If-None-Match`."),
    "Cache-Control": _header("`private, max-age=<seconds until the link expires>, immutable`."),
    "Accept-Ranges": _header("`bytes`: single ranges are supported."),
}


def problem_response(status: int, slugs: Sequence[str], note: str | None = None) -> OpenAPIResponse:
    types = ", ".join(f"`{slug}`" for slug in slugs)
    parts = [f"{REASONS.get(status, 'Error')}: {types}." if slugs else REASONS[status] + "."]
    if note or status in NOTES:
        parts.append(note or NOTES[status])
    return OpenAPIResponse(
        description=" ".join(parts),
        headers=dict(_ERROR_HEADERS.get(status, {})) or None,
        content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref=PROBLEM_REF))},
    )


def _image_content() -> dict[str, OpenAPIMediaType]:
    return {
        media_type: OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
        )
        for media_type in IMAGE_MEDIA_TYPES
    }


def download_responses() -> dict[str, OpenAPIResponse]:
    return {
        "200": OpenAPIResponse(
            description="The image; its Content-Type is the `mimeType` the API reported.",
            headers=dict(_BLOB_HEADERS),
            content=_image_content(),
        ),
        "206": OpenAPIResponse(
            description="The single byte range asked for with `Range: bytes=…`.",
            headers={
                **_BLOB_HEADERS,
                "Content-Range": _header("`bytes <first>-<last>/<size>`."),
            },
            content=_image_content(),
        ),
        "304": OpenAPIResponse(
            description="Not modified: `If-None-Match` matched the ETag. No body.",
            headers=dict(_BLOB_HEADERS),
        ),
        "416": problem_response(416, ("http-416",), "The `Range` starts past the end."),
    }


def _operations(document: Any) -> list[tuple[str, str, Operation]]:
    found = []
    for path, item in (document.paths or {}).items():
        for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
            operation = getattr(item, method, None)
            if isinstance(operation, Operation):
                found.append((method.upper(), path, operation))
    return found


def complete_openapi(app: Litestar) -> Litestar:
    """Put the ``Problem`` schema and every operation's error responses in the served document.

    Litestar builds the document once and caches it; it serves this one.
    """
    document = app.openapi_schema
    document.components.schemas[PROBLEM] = problem_schema()
    for _, _, operation in _operations(document):
        documented = OPERATIONS.get(operation.operation_id or "")
        responses: dict[str, Any] = {
            status: response
            for status, response in (operation.responses or {}).items()
            if int(status) < 400  # Litestar's 400 is not a shape this server sends
        }
        errors: Mapping[int, Sequence[str]] = {}
        if documented is not None:
            errors = documented.errors
            if documented.download:
                responses.update(download_responses())
        elif operation.security:
            errors = {401: TOKEN_401}
        for status, slugs in {**errors, 500: SERVER_500}.items():
            note = documented.notes.get(status) if documented else None
            responses[str(status)] = problem_response(status, slugs, note)
        operation.responses = dict(sorted(responses.items()))
    return app


# ---------------------------------------------------------------------- docs page


class OfflineRedoc(RedocRenderPlugin):
    """Redoc from the package's ``static/`` folder: no CDN, no web fonts, no remote icon."""

    def __init__(self, schema_path: str = SCHEMA_PATH) -> None:
        super().__init__(
            js_url=f"{schema_path}{STATIC_PATH}/{DOCS_JS}",
            google_fonts=False,
            path="/redoc",
            favicon="<link rel='icon' href='data:,'>",
        )

    def receive_router(self, router: Router) -> None:
        """Serve ``static/`` under the docs router (``/schema/static/…``)."""
        router.register(
            create_static_files_router(
                path=STATIC_PATH,
                directories=[STATIC_DIR],
                name="docs-static",
                cache_control=CacheControlHeader(max_age=86_400, public=True),
                include_in_schema=False,
            )
        )


def docs_plugins() -> list[OpenAPIRenderPlugin]:
    """``OpenAPIConfig.render_plugins``: Redoc at ``/schema`` and ``/schema/redoc``, YAML.

    The JSON document stays at ``/schema/openapi.json`` (Litestar adds it).
    """
    return [OfflineRedoc(), YamlRenderPlugin()]
