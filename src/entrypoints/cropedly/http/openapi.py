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

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.datastructures import CacheControlHeader
from litestar.enums import HttpMethod, MediaType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import OpenAPIRenderPlugin, RedocRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.router import Router
from litestar.routes import HTTPRoute
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
MALFORMED_400 = ("bad-request",)  # a multipart body without boundary, or broken
TOKEN_401 = ("invalid-token",)
PLAN_403 = ("pro-plan-required", "enterprise-plan-required", "origin-not-registered")
ENTERPRISE_403 = ("enterprise-plan-required", "origin-not-registered")
LINK_403 = ("link-invalid",)
# Every authenticated request counts against the plan's per-minute limit.
RATE_429 = ("rate-limited",)
BODY_413 = ("request-too-large",)  # the body, or more form parts than accepted
NOT_FORM_415 = ("unsupported-media-type",)  # a body that is not multipart/form-data
FIELDS_422 = ("invalid-input",)  # a form field or query parameter missing or invalid
RANGE_416 = ("range-not-satisfiable",)
# Refused image files: a batch is refused whole with `images-rejected` and its `errors`
# name each file with its own type; when those types map to different statuses the
# answer is 400 (problems.batch_status).
FILES_400 = ("bad-request", "images-rejected")
FILES_413 = (
    "request-too-large",
    "file-too-large",
    "too-many-pixels",
    "decompression-bomb",
    "too-many-files",
    "images-rejected",
)
FILES_415 = ("unsupported-media-type", "unsupported-format", "images-rejected")
FILES_422 = (
    "invalid-input",
    "corrupt-image",
    "empty-file",
    "processing-timeout",
    "processing-failed",
    "images-rejected",
)
BUSY_503 = ("overloaded",)
FULL_507 = ("storage-full",)
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
    401: "Send `Authorization: Bearer <token>` from POST /auth/v1/login.",
    415: "Send the body as `multipart/form-data`.",
    422: "`errors[].field` names the field or parameter.",
    429: "Wait `Retry-After` seconds. `rate-limited`: the plan's requests per minute "
    "(the `RateLimit` and `RateLimit-Policy` headers say where the account stands).",
    503: "Too many images are being processed; retry after `Retry-After` seconds.",
    507: "The server's disk is full; nothing was stored. Retry after `Retry-After` seconds.",
}


@dataclass(frozen=True)
class Documented:
    """What one operation can answer besides its success."""

    method: str
    path: str
    errors: Mapping[int, Sequence[str]]
    download: bool = False  # a signed-link download: image bytes, 206, 304, 416
    notes: Mapping[int, str] = field(default_factory=dict)
    # Headers of success responses: status -> header name -> description.
    headers: Mapping[int, Mapping[str, str]] = field(default_factory=dict)


CATALOG = "/images/v1/enterprise-resources/images"
_FORM = {400: MALFORMED_400, 413: BODY_413, 415: NOT_FORM_415, 422: FIELDS_422}
_LINK_NOTES = {
    403: "The link's signature is wrong or it has expired.",
    416: "The `Range` starts past the end of the file.",
    422: "`expires` or `sig` is missing.",
}

# Operation id -> route and the statuses it can answer (read from the route modules
# and problems.py; tests/e2e/test_openapi.py provokes each one and checks it is listed).
OPERATIONS: dict[str, Documented] = {
    "getServiceInfo": Documented("GET", "/", {}),
    "getHealth": Documented("GET", "/health", {}),
    "getLiveness": Documented("GET", "/health/live", {}),
    "getReadiness": Documented(
        "GET",
        "/health/ready",
        {503: ("not-ready",)},
        notes={503: "A readiness check failed; `checks` names each check and its state."},
    ),
    "getMetrics": Documented("GET", "/metrics", {}),
    "getJwks": Documented("GET", "/.well-known/jwks.json", {}),
    "login": Documented(
        "POST",
        "/auth/v1/login",
        {**_FORM, 401: ("invalid-credentials",), 429: ("too-many-attempts",), 507: FULL_507},
        notes={
            401: "Wrong e-mail, wrong password and password-less accounts alike.",
            429: "Too many failed logins for the e-mail or from the client address; "
            "wait `Retry-After` seconds.",
            507: "Only when a stored password hash is upgraded at login.",
        },
    ),
    "register": Documented(
        "POST",
        "/auth/v1/register",
        {
            **_FORM,
            409: ("email-taken",),
            422: ("invalid-input", "weak-password"),
            429: ("too-many-attempts",),
            507: FULL_507,
        },
        notes={429: "Too many sign-ups from the client address; wait `Retry-After` seconds."},
    ),
    "getMe": Documented("GET", "/auth/v1/me", {401: TOKEN_401}),
    "forgotPassword": Documented(
        "POST",
        "/auth/v1/forgot-password",
        {**_FORM, 429: ("too-many-attempts",)},
        notes={429: "At most 3 requests per e-mail per 30 minutes."},
    ),
    "resetPassword": Documented(
        "POST",
        "/auth/v1/reset-password",
        {**_FORM, 403: LINK_403, 422: ("invalid-input", "weak-password"), 507: FULL_507},
        notes={403: "The reset token is malformed, used, expired or superseded."},
    ),
    "changePassword": Documented(
        "POST",
        "/auth/v1/password",
        {
            **_FORM,
            401: TOKEN_401,
            403: ("current-password-wrong",),
            422: ("invalid-input", "weak-password"),
            429: ("too-many-attempts",),
            507: FULL_507,
        },
        notes={
            403: "The current password is wrong, or the account has none yet (Google: "
            "use forgot-password).",
            429: "Too many wrong current passwords; wait `Retry-After` seconds.",
        },
    ),
    "createApiKey": Documented(
        "POST",
        "/auth/v1/keys",
        {**_FORM, 401: TOKEN_401, 409: ("too-many-api-keys",), 507: FULL_507},
        notes={409: "The account already has 20 keys; revoke one first."},
    ),
    "listApiKeys": Documented("GET", "/auth/v1/keys", {401: TOKEN_401}),
    "revokeApiKey": Documented(
        "DELETE",
        "/auth/v1/keys/{key_id}",
        {401: TOKEN_401, 404: ("not-found",), 422: FIELDS_422, 507: FULL_507},
        notes={
            404: "No key with this id on the caller's account.",
            422: "The id is longer than 64 characters.",
        },
    ),
    "exchangeApiKey": Documented(
        "POST",
        "/auth/v1/token",
        {**_FORM, 401: ("invalid-api-key",), 507: FULL_507},
        notes={
            401: "Unknown, revoked or malformed key.",
            507: "Only when the key's last use cannot be recorded.",
        },
    ),
    "googleLogin": Documented(
        "GET",
        "/auth/v1/google/login",
        {404: ("sign-in-not-configured",), 503: ("sign-in-unavailable",)},
        notes={
            404: "Google sign-in is not configured (no client id).",
            503: "The provider's discovery document could not be fetched; "
            "retry after `Retry-After` seconds.",
        },
    ),
    "googleCallback": Documented(
        "GET",
        "/auth/v1/google/callback",
        {
            401: ("sign-in-refused",),
            404: ("sign-in-not-configured",),
            422: FIELDS_422,
            503: ("sign-in-unavailable",),
            507: FULL_507,
        },
        notes={
            401: "Wrong `state`, no login cookie, a refused code, or an ID token with a bad "
            "signature, issuer, audience, expiry, nonce or unverified e-mail.",
            404: "Google sign-in is not configured (no client id).",
            422: "`code`, `state` or `error` is too long.",
            503: "The provider could not be reached; retry after `Retry-After` seconds.",
            507: "Only when a new account cannot be stored.",
        },
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
            503: BUSY_503,
            507: FULL_507,
        },
        notes={
            400: "A malformed multipart body, or refused files whose reasons have "
            "different statuses (each file named in `errors`).",
            404: "Enterprise: `referenceId` names no image of the caller's catalog.",
            422: "An invalid option (`errors[].field`), unusable files, or a `callbackUrl` "
            "that is malformed, not http(s), does not resolve, resolves to a non-public "
            "address, or comes without `Prefer: respond-async`.",
        },
        headers={
            202: {
                "Location": "`/images/v1/jobs/{id}`: where the job's status is.",
                "Preference-Applied": "`respond-async` (RFC 7240).",
            }
        },
    ),
    "getJob": Documented(
        "GET",
        "/images/v1/jobs/{job_id}",
        {401: TOKEN_401, 404: ("not-found",)},
        notes={
            404: "No job of the caller has this id (another account's job is not shown), "
            "or it has expired."
        },
    ),
    "downloadResult": Documented(
        "GET",
        "/images/v1/results/{result_id}",
        {403: LINK_403, 404: ("not-found",), 416: RANGE_416, 422: FIELDS_422},
        download=True,
        notes={**_LINK_NOTES, 404: "The result is gone (expired and purged)."},
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
            503: BUSY_503,
            507: FULL_507,
        },
        notes={
            400: "A malformed multipart body, or refused files whose reasons have "
            "different statuses (each file named in `errors`).",
            413: "`quota-exceeded`: the catalog would pass the account's quota.",
        },
    ),
    "listReferenceImages": Documented(
        "GET",
        CATALOG,
        {401: TOKEN_401, 403: ENTERPRISE_403, 422: FIELDS_422},
        notes={422: "`limit` is not a whole number from 1 to 200, or `cursor` is unknown."},
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
        {401: TOKEN_401, 403: ENTERPRISE_403, 422: FIELDS_422, 507: FULL_507},
        notes={422: "No id, or more than 100."},
    ),
    "downloadReferenceImage": Documented(
        "GET",
        f"{CATALOG}/{{image_id}}/content",
        {403: LINK_403, 404: ("not-found",), 416: RANGE_416, 422: FIELDS_422},
        download=True,
        notes={**_LINK_NOTES, 404: "The image was deleted."},
    ),
}
ACCOUNT = "/account/v1"
OPERATIONS.update(
    {
        "listDomains": Documented(
            "GET", f"{ACCOUNT}/domains", {401: TOKEN_401, 403: ENTERPRISE_403}
        ),
        "addDomain": Documented(
            "POST",
            f"{ACCOUNT}/domains",
            {
                **_FORM,
                401: TOKEN_401,
                403: ENTERPRISE_403,
                409: ("too-many-domains",),
                507: FULL_507,
            },
            notes={
                409: "The account has `CROPEDLY_DOMAINS_PER_ACCOUNT` domains; remove one first.",
                422: "Not `http(s)://host[:port]`: a wildcard, `null`, a path or another scheme.",
            },
        ),
        "removeDomain": Documented(
            "DELETE",
            f"{ACCOUNT}/domains/{{domain_id}}",
            {
                401: TOKEN_401,
                403: ENTERPRISE_403,
                404: ("not-found",),
                422: FIELDS_422,
                507: FULL_507,
            },
            notes={
                404: "No domain with this id on the caller's account.",
                422: "The id is longer than 64 characters.",
            },
        ),
        "getUsage": Documented(
            "GET",
            f"{ACCOUNT}/usage",
            {401: TOKEN_401, 403: ENTERPRISE_403},
            notes={403: "Only for browser calls from an origin that may not call the API."},
        ),
    }
)


def _with_rate_limit(documented: Documented) -> Documented:
    """An authenticated operation can also answer 429 ``rate-limited``, and 403 to browsers.

    Both come from the user dependency (``auth.provide_user``): the per-minute limit,
    and the rule that a browser call needs Enterprise and a registered origin.
    """
    if 401 not in documented.errors or documented.errors[401] != TOKEN_401:
        return documented
    errors = dict(documented.errors)
    errors[429] = (*errors.get(429, ()), *RATE_429)
    browser = [slug for slug in ENTERPRISE_403 if slug not in errors.get(403, ())]
    errors[403] = (*errors.get(403, ()), *browser)
    notes = dict(documented.notes)
    if 403 not in documented.errors:
        notes[403] = "A browser call (an `Origin`) needs Enterprise and that origin registered."
    return dataclasses.replace(documented, errors=errors, notes=notes)


OPERATIONS = {name: _with_rate_limit(documented) for name, documented in OPERATIONS.items()}
OPERATIONS["enhanceImages"] = dataclasses.replace(
    OPERATIONS["enhanceImages"],
    errors={**OPERATIONS["enhanceImages"].errors, 429: (*RATE_429, "monthly-images-exceeded")},
    notes={
        **OPERATIONS["enhanceImages"].notes,
        429: "`rate-limited`: the plan's requests per minute; `monthly-images-exceeded`: the "
        "files would pass the plan's images per month (`Retry-After`: until the month ends).",
    },
)
LIMITS_503 = (
    "The shared store of throttles and rate limits (Redis) cannot be reached: limits "
    "fail closed. Retry after `Retry-After` seconds."
)


def _with_limits_store(documented: Documented) -> Documented:
    """What a limit counts (every 429) can also answer 503 ``limits-unavailable``.

    Only with ``CROPEDLY_REDIS_URL``, when that Redis cannot be reached.
    """
    if 429 not in documented.errors:
        return documented
    errors = dict(documented.errors)
    errors[503] = (*errors.get(503, ()), "limits-unavailable")
    notes = dict(documented.notes)
    if 503 in documented.errors:
        earlier = documented.notes.get(503, NOTES[503])
        notes[503] = f"{earlier} `limits-unavailable`: {LIMITS_503}"
    else:
        notes[503] = LIMITS_503
    return dataclasses.replace(documented, errors=errors, notes=notes)


OPERATIONS = {name: _with_limits_store(documented) for name, documented in OPERATIONS.items()}
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
            "requestId": Schema(
                type=OpenAPIType.STRING,
                description="The id of the request, as in its `X-Request-Id` response header "
                "and the server's log lines: quote it when reporting a problem.",
            ),
            "checks": Schema(
                type=OpenAPIType.OBJECT,
                additional_properties=Schema(type=OpenAPIType.STRING, enum=["ok", "failed"]),
                description="With `…/not-ready`: each readiness check and its state.",
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
    507: {"Retry-After": RETRY_AFTER},
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
    _name_models_after_their_classes(app, document)
    document.components.schemas[PROBLEM] = problem_schema()
    for _, _, operation in _operations(document):
        documented = OPERATIONS.get(operation.operation_id or "")
        responses: dict[str, Any] = {
            status: _json_when_unnamed(response)
            for status, response in (operation.responses or {}).items()
            if int(status) < 400  # Litestar's 400 is not a shape this server sends
        }
        errors: Mapping[int, Sequence[str]] = {}
        if documented is not None:
            errors = documented.errors
            if documented.download:
                responses.update(download_responses())
            for status, headers in documented.headers.items():
                responses[str(status)].headers = {
                    name: _header(text) for name, text in headers.items()
                }
        elif operation.security:
            errors = {401: TOKEN_401}
        for status, slugs in {**errors, 500: SERVER_500}.items():
            note = documented.notes.get(status) if documented else None
            responses[str(status)] = problem_response(status, slugs, note)
        operation.responses = dict(sorted(responses.items()))
    return app


def _json_when_unnamed(response: Any) -> Any:
    """Litestar leaves the media type of a DTO handler's ``Response`` empty; it is JSON."""
    if isinstance(response, OpenAPIResponse) and response.content and "" in response.content:
        response.content = {
            (key or MediaType.JSON.value): media for key, media in response.content.items()
        }
    return response


def _name_models_after_their_classes(app: Litestar, document: OpenAPI) -> None:
    """``Me`` rather than ``MeMeResponseBody`` (or, in a second app of the process, a dotted path).

    Litestar names DTO models after the handler, and differently once a name was used
    by an earlier app; the document should not depend on what ran before. Each DTO
    model is renamed after its dataclass, unless another schema already has that
    name and differs.
    """
    models = _response_models(app)
    schemas = document.components.schemas
    renames: dict[str, str] = {}
    for _, _, operation in _operations(document):
        model = models.get(operation.operation_id or "")
        for status, response in (operation.responses or {}).items():
            if model is None or not status.startswith("2"):
                continue
            for media in (getattr(response, "content", None) or {}).values():
                old = _component_of(media.schema)
                if old is not None and old != model and old in schemas:
                    renames[old] = model
    for old, new in renames.items():
        schema = schemas[old]
        existing = schemas.get(new)
        if existing is not None and _untitled(existing) != _untitled(schema):
            continue
        del schemas[old]
        schema.title = new
        schemas.setdefault(new, schema)
        _rewrite_refs(document, SCHEMA_REF + old, SCHEMA_REF + new, set())
    document.components.schemas = dict(sorted(schemas.items()))


SCHEMA_REF = "#/components/schemas/"


def _response_models(app: Litestar) -> dict[str, str]:
    """Operation id -> the class name of the model its return DTO serialises."""
    models: dict[str, str] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            dto = handler.resolve_return_dto()
            if dto is None:
                continue
            for method in handler.http_methods:
                key = operation_id(handler, HttpMethod(method), route.path_components)
                models[key] = dto.model_type.__name__
    return models


def _component_of(schema: Any) -> str | None:
    if isinstance(schema, Schema) and isinstance(schema.items, Reference):
        schema = schema.items
    if isinstance(schema, Reference) and schema.ref.startswith(SCHEMA_REF):
        return schema.ref.removeprefix(SCHEMA_REF)
    return None


def _untitled(schema: Schema) -> dict[str, Any]:
    return {k: v for k, v in schema.to_schema().items() if k != "title"}


def _rewrite_refs(node: Any, old: str, new: str, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, Reference):
        if node.ref == old:
            node.ref = new
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for item in dataclasses.fields(node):
            _rewrite_refs(getattr(node, item.name), old, new, seen)
    elif isinstance(node, dict):
        for value in node.values():
            _rewrite_refs(value, old, new, seen)
    elif isinstance(node, list | tuple):
        for value in node:
            _rewrite_refs(value, old, new, seen)


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
