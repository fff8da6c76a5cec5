"""Users, plans and the authorities derived from them."""

from __future__ import annotations

import enum
import re
from datetime import datetime

import attrs

from cropedly_core.errors import InvalidInput


class Plan(enum.StrEnum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"

    @property
    def rank(self) -> int:
        return _PLAN_RANK[self]

    def includes(self, other: Plan) -> bool:
        """A higher plan includes every feature of the lower ones."""
        return self.rank >= other.rank


_PLAN_RANK = {Plan.FREE: 0, Plan.PRO: 1, Plan.ENTERPRISE: 2}


class Role(enum.StrEnum):
    USER = "ROLE_USER"
    ADMIN = "ROLE_ADMIN"


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}$")


def normalise_email(raw: str) -> str:
    """Trim and lower-case; e-mails are unique case-insensitively."""
    email = raw.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidInput("Not a valid e-mail address.", field="email")
    return email


def authorities_for(plan: Plan, roles: frozenset[Role]) -> list[str]:
    """Sorted roles, then the plan's authority, e.g. ``["ROLE_USER", "PLAN_PRO"]``."""
    return [*sorted(r.value for r in roles | {Role.USER}), f"PLAN_{plan.value.upper()}"]


@attrs.frozen
class User:
    """An account.

    Attributes:
        id: random, unguessable identifier; the JWT ``sub``.
        email: normalised (lower-case) and unique.
        name: display name.
        plan: the subscription plan.
        password_hash: None for accounts created through Google sign-in.
        created_at: creation time (UTC).
        token_version: bumped on every password change; older tokens are refused.
        roles: extra roles such as admin.
        origins: browser origins the account registered (Enterprise browser calls).
    """

    id: str
    email: str
    name: str
    plan: Plan
    password_hash: str | None
    created_at: datetime
    token_version: int = 0
    roles: frozenset[Role] = frozenset({Role.USER})
    origins: frozenset[str] = frozenset()

    @property
    def authorities(self) -> list[str]:
        return authorities_for(self.plan, self.roles)
