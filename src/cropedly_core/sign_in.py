"""Sign-in through an OpenID Connect provider (Google by default).

The adapter runs the protocol (state, nonce, PKCE, code exchange, ID-token checks)
and hands the core a ``VerifiedIdentity``; the core decides which account it is.

Linking rule: a verified e-mail that already has an account signs in to that
account (password or not), it is never duplicated. This gives the provider's user
no more than they already have: whoever receives mail at the address can set the
account's password through forgot-password anyway. An e-mail the provider has not
verified is refused, since it proves nothing.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from cropedly_core.accounts import MAX_NAME_LENGTH, Accounts
from cropedly_core.errors import DomainError, InvalidInput
from cropedly_core.tokens import TokenGrant
from cropedly_core.users import Plan, User, clean_name, normalise_email


class SignInRefused(DomainError):
    """The provider's answer failed a check (state, nonce, audience, signature, e-mail...)."""

    slug = "sign-in-refused"
    title = "Sign-in refused"


class SignInUnavailable(DomainError):
    """The provider could not be reached, or answered nonsense."""

    slug = "sign-in-unavailable"
    title = "Sign-in provider unavailable"


class SignInNotConfigured(DomainError):
    slug = "sign-in-not-configured"
    title = "Sign-in with this provider is not configured"


@attrs.frozen
class VerifiedIdentity:
    """What a checked ID token says about the person.

    Attributes:
        subject: the provider's stable id of the person (``sub``).
        email: as the provider gave it.
        email_verified: whether the provider verified it.
        name: display name, may be empty.
    """

    subject: str
    email: str
    email_verified: bool
    name: str = ""


@attrs.frozen
class Authorization:
    """The start of a sign-in: where to send the browser, and what to keep until it returns.

    Attributes:
        url: the provider's authorization URL with all parameters.
        state: ties the callback to this browser (checked against a cookie).
        nonce: ties the ID token to this sign-in.
        verifier: the PKCE code verifier (S256).
    """

    url: str
    state: str
    nonce: str
    verifier: str


class IdentityProvider(Protocol):
    """An OpenID Connect provider, seen from the relying party."""

    def begin(self) -> Authorization:
        """Fresh state, nonce and PKCE verifier, and the authorization URL."""
        ...

    def finish(self, code: str, nonce: str, verifier: str) -> VerifiedIdentity:
        """Exchange the code and verify the ID token; raises ``SignInRefused``."""
        ...


@attrs.define
class ExternalSignIn:
    """Turns a verified identity into our account and token."""

    accounts: Accounts

    def sign_in(self, identity: VerifiedIdentity) -> TokenGrant:
        if not identity.email_verified:
            raise SignInRefused("The provider has not verified this e-mail address.")
        try:
            email = normalise_email(identity.email)
        except InvalidInput as exc:
            raise SignInRefused(f"The provider's e-mail is not usable: {exc.detail}") from None
        user = self.accounts.users.get_by_email(email) or self._create(email, identity)
        return self.accounts.issuer.issue(user, self.accounts.clock.now())

    def _create(self, email: str, identity: VerifiedIdentity) -> User:
        try:
            name = clean_name(identity.name or email.split("@", 1)[0], MAX_NAME_LENGTH)
        except InvalidInput:
            name = email.split("@", 1)[0]
        return self.accounts.register(email, None, name, Plan.FREE)
