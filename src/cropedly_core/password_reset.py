"""Forgot / reset password: how Google users set a password, and everyone recovers one.

The reset token is stateless: an HMAC over the account id, its token version and
an expiry. Setting a password bumps the token version, so a token works once,
and every older login token stops working at the same time.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import timedelta
from typing import Protocol

import attrs

from cropedly_core.accounts import Accounts
from cropedly_core.errors import InvalidInput, LinkInvalid, TooManyAttempts
from cropedly_core.links import LinkSigner
from cropedly_core.users import normalise_email

log = logging.getLogger("cropedly.accounts")

RESET_LIFETIME = timedelta(minutes=30)
_KIND = "password-reset"


class Mailer(Protocol):
    """Sends plain-text e-mail."""

    def send(self, to: str, subject: str, body: str) -> None:
        """Deliver or raise ``OSError``; callers decide whether that matters."""
        ...


@attrs.define
class PasswordResets:
    """Mails reset tokens and exchanges them for a new password."""

    accounts: Accounts
    signer: LinkSigner
    mailer: Mailer
    sender_name: str = "Cropedly"
    lifetime: timedelta = RESET_LIFETIME
    requests_per_window: int = 3
    _recent: dict[str, list[float]] = attrs.field(factory=dict, init=False)

    def request(self, email: str) -> None:
        """Mail a reset token when the account exists; the same silence when not.

        Answering the same way for unknown e-mails keeps this from telling which
        accounts exist; a few requests per e-mail per window stop mail bombing.
        """
        try:
            normalised = normalise_email(email)
        except InvalidInput:
            return
        self._throttle(normalised)
        user = self.accounts.users.get_by_email(normalised)
        if user is None:
            return
        expires = self.accounts.clock.now() + self.lifetime
        stamp, signature = self.signer.sign(_KIND, f"{user.id}:{user.token_version}", expires)
        token = ".".join([_b64(user.id), str(stamp), signature])
        minutes = int(self.lifetime.total_seconds() // 60)
        body = (
            f"Hello {user.name},\n\n"
            f"someone (hopefully you) asked to set a new password for {user.email}.\n"
            f"Your reset token, valid for {minutes} minutes and usable once:\n\n"
            f"    {token}\n\n"
            "Send it with your new password to POST /auth/v1/reset-password "
            "(multipart fields 'token' and 'password').\n"
            "If you did not ask for this, ignore this message: nothing changes.\n"
        )
        try:
            self.mailer.send(user.email, f"{self.sender_name}: reset your password", body)
        except OSError:
            # The caller must not learn more than for an unknown e-mail; we must.
            log.exception("could not send the password reset mail to account %s", user.id)

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

    def _throttle(self, email: str) -> None:
        now = self.accounts.clock.now().timestamp()
        window = self.lifetime.total_seconds()
        recent = [t for t in self._recent.get(email, []) if t > now - window]
        if len(recent) >= self.requests_per_window:
            raise TooManyAttempts(max(1, int(recent[0] + window - now)))
        self._recent[email] = [*recent, now]
        if len(self._recent) > 100_000:  # bounds memory under a spray of e-mails
            self._recent.clear()


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).rstrip(b"=").decode()
