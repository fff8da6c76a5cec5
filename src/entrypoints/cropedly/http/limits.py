"""The rate-limit headers of every authenticated response.

We send the IETF HTTPAPI working group's fields (draft-ietf-httpapi-ratelimit-headers,
the structured-field form): ``RateLimit-Policy: "minute";q=120;w=60`` and
``RateLimit: "minute";r=119;t=42``. They carry the same three numbers as the
older ``RateLimit-Limit``/``-Remaining``/``-Reset`` trio, are the form the
standard is converging on, and name the policy, so a monthly quota or a second
window can join later without new header names. ``Retry-After`` (RFC 9110) is
what a 429 client must honour; these headers only let it slow down before.

The user dependency (``auth.provide_user``) counts the request and leaves its
``RateState`` in the scope's state; this middleware writes the headers on the
way out, also on error answers (403, 404, 429 ...) raised after authentication.
"""

from __future__ import annotations

from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from cropedly_core.usage import RateState

RATE_STATE = "cropedly.rate"
POLICY = "minute"


def remember_rate(scope: Any, state: RateState) -> None:
    """Keep the caller's rate state for ``rate_limit_headers`` (scope state is per request)."""
    scope.setdefault("state", {})[RATE_STATE] = state


def header_values(state: RateState) -> dict[str, str]:
    return {
        "RateLimit-Policy": f'"{POLICY}";q={state.limit};w={state.window}',
        "RateLimit": f'"{POLICY}";r={state.remaining};t={state.reset}',
    }


def rate_limit_headers(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: RateLimit headers on responses to authenticated requests."""

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                state = (scope.get("state") or {}).get(RATE_STATE)
                if isinstance(state, RateState):
                    headers = MutableScopeHeaders.from_message(message)
                    for name, value in header_values(state).items():
                        headers[name] = value
            await send(message)

        await app(scope, receive, send_with_limits)

    return handle
