"""Browser origins an Enterprise account registers for calls from its web pages.

They live in the account's ``origins`` (one set per user, no table of their own);
a domain's id is derived from its normalised origin, so it is stable, needs no
storage and is the same in every process.
"""

from __future__ import annotations

import hashlib

import attrs

from cropedly_core.accounts import Accounts, normalise_origin, require_plan
from cropedly_core.errors import DomainError, NotFound, UserNotFound
from cropedly_core.users import Plan, User, normalise_email

DEFAULT_MAX_DOMAINS = 20


class TooManyDomains(DomainError):
    slug = "too-many-domains"
    title = "Too many registered domains"


@attrs.frozen
class Domain:
    """A registered origin.

    Attributes:
        id: 12 hex digits of the origin's SHA-256 (stable, derived).
        origin: ``scheme://host[:port]``, normalised.
    """

    id: str
    origin: str


def domain_id(origin: str) -> str:
    return hashlib.sha256(origin.encode("ascii")).hexdigest()[:12]


def _domain(origin: str) -> Domain:
    return Domain(id=domain_id(origin), origin=origin)


@attrs.define
class Domains:
    """List, add and remove the registered origins of an Enterprise account."""

    accounts: Accounts
    max_per_account: int = DEFAULT_MAX_DOMAINS

    def list(self, user: User, origin: str | None = None) -> list[Domain]:
        require_plan(user, Plan.ENTERPRISE, origin)
        return sorted((_domain(o) for o in user.origins), key=lambda d: d.origin)

    def add(self, user: User, new_origin: str, origin: str | None = None) -> Domain:
        """Register an origin; registering one again is not an error (idempotent)."""
        require_plan(user, Plan.ENTERPRISE, origin)
        normalised = normalise_origin(new_origin)
        current = self._fresh(user)
        if normalised not in current.origins:
            if len(current.origins) >= self.max_per_account:
                raise TooManyDomains(
                    f"An account registers at most {self.max_per_account} domains; "
                    "remove one first."
                )
            self.accounts.users.update(
                attrs.evolve(current, origins=current.origins | {normalised})
            )
        return _domain(normalised)

    def remove(self, user: User, id_or_origin: str, origin: str | None = None) -> Domain:
        """Remove by id (or by origin, for the CLI); raises ``NotFound``."""
        require_plan(user, Plan.ENTERPRISE, origin)
        current = self._fresh(user)
        wanted = id_or_origin.strip()
        if "://" in wanted:
            wanted = domain_id(normalise_origin(wanted))
        for registered in current.origins:
            if domain_id(registered) == wanted:
                self.accounts.users.update(
                    attrs.evolve(current, origins=current.origins - {registered})
                )
                return _domain(registered)
        raise NotFound("No registered domain with this id on the account.")

    def by_email(self, email: str) -> User:
        """The account behind an e-mail (the CLI's way in)."""
        user = self.accounts.users.get_by_email(normalise_email(email))
        if user is None:
            raise UserNotFound(f"No account with e-mail {email!r}.")
        return user

    def _fresh(self, user: User) -> User:
        stored = self.accounts.users.get(user.id)
        if stored is None:
            raise UserNotFound("No such account.")
        return stored
