"""Token values shared by the issuer and verifier ports."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

TOKEN_LIFETIME = timedelta(hours=72)


@attrs.frozen
class Claims:
    """What a verified token says.

    Attributes:
        sub: the user id.
        name: the user's display name when the token was issued.
        authorities: roles and plan, e.g. ``["ROLE_USER", "PLAN_PRO"]``.
        iat: issued-at time.
        exp: expiry, exactly ``iat`` + 72 hours.
        jti: unique token id.
        token_version: the user's token version when issued.
    """

    sub: str
    name: str
    authorities: tuple[str, ...]
    iat: datetime
    exp: datetime
    jti: str
    token_version: int


@attrs.frozen
class TokenGrant:
    """A freshly issued token and when it expires."""

    token: str
    expires_at: datetime
    claims: Claims
