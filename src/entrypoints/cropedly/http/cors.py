"""CORS decided per request: only origins some Enterprise account registered.

Before, every origin and every preflight got ``Access-Control-Allow-Origin: *``.
Now an origin gets CORS headers only when it is registered to an Enterprise
account (echoed, never ``*``, with ``Vary: Origin``); anything else, ``null``
included, gets none, so the browser blocks the page from reading the answer.
The plan and origin rules of each route still apply on top (``require_plan``).

The server's own public origin is the console's (``/console``): its calls are
same-origin, need no CORS grant, and are not "browser calls from a customer's
page", so the middleware drops their ``Origin`` header and the routes treat them
like server-side calls (the account's plan rules without the Enterprise-origin
rule). Tokens travel in ``Authorization``, never in cookies, so a foreign page
cannot borrow the console's standing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, X-Request-Id"
EXPOSE_HEADERS = "Link, Retry-After, ETag, Content-Range, RateLimit, RateLimit-Policy, X-Request-Id"
MAX_AGE = "600"


def cors_middleware(
    origin_allowed: Callable[[str], bool], own_origin: str | None = None
) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware factory; ``origin_allowed`` asks the accounts (a quick lookup).

    ``own_origin`` (normalised) is the server's public origin, the console's.
    """

    def middleware(app: ASGIApp) -> ASGIApp:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            origin = _header(scope, b"origin")
            if origin is None:
                await app(scope, receive, send)
                return
            if own_origin is not None and origin.lower().rstrip("/") == own_origin:
                scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"origin"]
                await app(scope, receive, send)
                return
            allowed = await asyncio.to_thread(origin_allowed, origin)
            if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
                await _preflight(send, origin if allowed else None)
                return

            async def send_with_cors(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = MutableScopeHeaders.from_message(message)
                    headers.add("Vary", "Origin")
                    if allowed:
                        headers["Access-Control-Allow-Origin"] = origin
                        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
                await send(message)

            await app(scope, receive, send_with_cors)

        return handle

    return middleware


async def _preflight(send: Send, origin: str | None) -> None:
    """204 with the CORS grant for a registered origin; 403 without any CORS header else."""
    headers = [(b"vary", b"Origin"), (b"content-length", b"0")]
    if origin is not None:
        headers += [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
            (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
        ]
    await send(
        {
            "type": "http.response.start",
            "status": 204 if origin is not None else 403,
            "headers": headers,
        }
    )
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value[:2048].decode("latin-1")
    return None
