"""Users, plans and the authorities derived from them."""

from __future__ import annotations

import enum
import re
import unicodedata
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
MAX_EMAIL_LENGTH = 254  # RFC 5321: the longest address a mail server accepts
# Control, format (zero-width, soft hyphen, bidi marks), surrogate, private-use and
# unassigned characters: invisible or unprintable, they make look-alike addresses.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset(
    "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def normalise_email(raw: str) -> str:
    """NFKC, trimmed and lower-cased; e-mails are unique under this form.

    NFKC folds fullwidth and other compatibility look-alikes onto the plain
    address, so they find the same account; what stays invisible or mixes
    scripts inside one label (a Cyrillic letter a in a Latin name) is refused.
    """
    if len(raw) > 4 * MAX_EMAIL_LENGTH:  # bound the work before normalising
        raise InvalidInput("Not a valid e-mail address (too long).", field="email")
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if any(unicodedata.category(c) in _HIDDEN for c in email):
        raise InvalidInput(
            "The e-mail address contains invisible or control characters.", field="email"
        )
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise InvalidInput("Not a valid e-mail address.", field="email")
    if any(len(_scripts(label)) > 1 for label in re.split(r"[@.+_-]", email)):
        raise InvalidInput(
            "The e-mail address mixes alphabets within a word (a look-alike address).",
            field="email",
        )
    return email


def clean_name(raw: str, max_length: int) -> str:
    """NFKC with runs of white space collapsed; control and bidi characters refused."""
    if len(raw) > 4 * max_length:
        raise InvalidInput(f"The name must have at most {max_length} characters.", "name")
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if any(
        unicodedata.category(c) in {"Cc", "Cs", "Co", "Cn"} or c in _BIDI_CONTROLS for c in name
    ):
        raise InvalidInput("The name contains control or text-direction characters.", "name")
    if not name:
        raise InvalidInput("The name must not be empty.", field="name")
    if len(name) > max_length:
        raise InvalidInput(f"The name must have at most {max_length} characters.", "name")
    return name


def _scripts(label: str) -> set[str]:
    """The scripts of a label's letters, by the first word of their Unicode names."""
    return {unicodedata.name(c, "?").split()[0] for c in label if c.isalpha()}


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
