"""Authentication at the edge: bearer tokens in, users out."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from cropedly.http.limits import remember_rate
from cropedly_core.accounts import MAX_ORIGIN_LENGTH, Accounts, require_plan
from cropedly_core.errors import InvalidToken
from cropedly_core.usage import RateLimited, RateState, Usage
from cropedly_core.users import Plan, User

BEARER: list[dict[str, list[str]]] = [
    {"BearerToken": []}
]  # OpenAPI security requirement of protected routes


def bearer_token(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization")
    if header and len(header) > 8192:
        raise InvalidToken("The Authorization header is too long to hold a token of ours.")
    if not header:
        raise InvalidToken("An Authorization: Bearer <token> header is required.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def provide_user(
    request: Request[Any, Any, Any],
    accounts: NamedDependency[Accounts],
    usage: NamedDependency[Usage],
) -> User:
    """Dependency: the authenticated caller, or a 401 problem; counts the request.

    Every authenticated request counts against the plan's per-minute limit (429
    ``rate-limited`` past it) and carries the RateLimit headers (``limits.py``).
    A browser call (an ``Origin`` header; the console's own origin was dropped by
    ``cors.py``) needs Enterprise and that origin registered, on every route; the
    routes add their own plan rules.
    """
    user = accounts.authenticate(bearer_token(request))
    try:
        state = usage.take_request(user, accounts.clock.now())
    except RateLimited as exc:
        remember_rate(request.scope, RateState(exc.limit, 0, exc.retry_after))
        raise
    remember_rate(request.scope, state)
    origin = request.headers.get("origin")
    if origin is not None:
        require_plan(user, Plan.FREE, origin[:MAX_ORIGIN_LENGTH])
    return user


def client_address(request: Request[Any, Any, Any]) -> str:
    client = request.client
    return client.host if client else "unknown"
