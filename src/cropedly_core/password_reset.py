"""Forgot / reset password: how Google users set a password, and everyone recovers one.

The reset token is stateless: an HMAC over the account id, its token version and
an expiry. Setting a password bumps the token version, so a token works once,
and every older login token stops working at the same time.
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
from datetime import timedelta
from functools import cache
from importlib import resources
from string import Template
from typing import Protocol

import attrs

from cropedly_core.accounts import Accounts
from cropedly_core.errors import InvalidInput, LinkInvalid, TooManyAttempts
from cropedly_core.links import LinkSigner
from cropedly_core.throttle import RateLimit
from cropedly_core.users import normalise_email

log = logging.getLogger("cropedly.accounts")

RESET_LIFETIME = timedelta(minutes=30)
_KIND = "password-reset"


class Mailer(Protocol):
    """Sends e-mail: a plain-text body and, optionally, an HTML alternative."""

    def send(self, to: str, subject: str, body: str, html: str | None = None) -> None:
        """Deliver or raise ``OSError``; callers decide whether that matters."""
        ...


@cache
def _template(name: str) -> Template:
    return Template(resources.files("cropedly_core.templates").joinpath(name).read_text("utf-8"))


@attrs.define
class PasswordResets:
    """Mails reset tokens and exchanges them for a new password.

    Attributes:
        accounts: the account use cases.
        signer: signs and checks the tokens.
        mailer: delivers the mail.
        instructions: how to use the token, in the words of the caller's interface
            (the HTTP edge names its route and fields; the core speaks no HTTP).
        reset_url: the page that takes the token from its fragment
            (``<url>#token=...``), e.g. the console's reset page.
        sender_name: shown in the subject.
        lifetime: how long a token works.
        requests_per_window: reset mails per e-mail per ``lifetime``.
    """

    accounts: Accounts
    signer: LinkSigner
    mailer: Mailer
    instructions: str = "Use it with your new password to set it."
    reset_url: str = "http://127.0.0.1:8000/console/reset"
    sender_name: str = "Cropedly"
    lifetime: timedelta = RESET_LIFETIME
    requests_per_window: int = 3
    _limit: RateLimit = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # On the login throttle's log: shared by every process when that one is.
        self._limit = RateLimit(
            "reset-mail", self.requests_per_window, self.lifetime, self.accounts.throttle.log
        )

    def request(self, email: str) -> None:
        """``accept`` then ``send``: mail a reset token when the account exists."""
        accepted = self.accept(email)
        if accepted is not None:
            self.send(accepted)

    def accept(self, email: str) -> str | None:
        """The check a caller waits for: the normalised e-mail, or None for an invalid one.

        It does the same work whether or not the e-mail has an account (no lookup),
        so neither its answer nor its timing tells which accounts exist; a few
        requests per e-mail per window stop mail bombing (``TooManyAttempts``).
        """
        try:
            normalised = normalise_email(email)
        except InvalidInput:
            return None
        wait = self._limit.take(normalised, self.accounts.clock.now())
        if wait:
            raise TooManyAttempts(wait, "Too many reset requests for this e-mail")
        return normalised

    def send(self, email: str) -> None:
        """Look the account up and mail its token; the HTTP edge runs this after answering."""
        user = self.accounts.users.get_by_email(email)
        if user is None:
            return
        expires = self.accounts.clock.now() + self.lifetime
        stamp, signature = self.signer.sign(_KIND, f"{user.id}:{user.token_version}", expires)
        token = ".".join([_b64(user.id), str(stamp), signature])
        subject = f"{self.sender_name}: reset your password"
        # The token is URL-safe (base64url, digits, dots): it goes in the fragment as is,
        # which browsers never send to a server, so no access log ever records it.
        values = {
            "name": user.name,
            "email": user.email,
            "minutes": str(int(self.lifetime.total_seconds() // 60)),
            "token": token,
            "link": f"{self.reset_url}#token={token}",
            "instructions": self.instructions,
            "subject": subject,
        }
        body = _template("reset_password.txt").substitute(values)
        page = _template("reset_password.html").substitute(
            {key: html.escape(value) for key, value in values.items()}
        )
        try:
            self.mailer.send(user.email, subject, body, page)
        except OSError as exc:
            # The caller must not learn more than for an unknown e-mail; the operator must.
            log.warning("could not send the password reset mail to account %s: %s", user.id, exc)

    def reset(self, token: str, password: str) -> None:
        """Set the password that the token's account asked for; raises ``LinkInvalid``."""
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise LinkInvalid("The reset token is malformed.")
        try:
            user_id = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise LinkInvalid("The reset token is malformed.") from None
        user = self.accounts.users.get(user_id)
        if user is None:
            raise LinkInvalid("The reset token is not valid.")
        self.signer.check(
            _KIND, f"{user.id}:{user.token_version}", parts[1], parts[2], self.accounts.clock.now()
        )
        self.accounts.set_password(user.id, password)
        log.info("password reset for account %s", user.id)


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).rstrip(b"=").decode()
