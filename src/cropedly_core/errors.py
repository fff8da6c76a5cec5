"""Domain errors.

Each error carries a stable ``slug``; the HTTP edge turns it into the RFC 9457
``type`` URI and picks the status code, so the core never speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    slug = "domain-error"
    title = "Request could not be processed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DomainError):
    """A field is missing or malformed."""

    slug = "invalid-input"
    title = "Invalid input"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class InvalidCredentials(DomainError):
    """Wrong e-mail, wrong password or an account without a password: one answer for all."""

    slug = "invalid-credentials"
    title = "Invalid credentials"

    def __init__(self) -> None:
        super().__init__("The e-mail or password is incorrect.")


class TooManyAttempts(DomainError):
    slug = "too-many-attempts"
    title = "Too many attempts"

    def __init__(self, retry_after: int, what: str = "Too many failed logins") -> None:
        super().__init__(f"{what}; try again in {retry_after} seconds.")
        self.retry_after = retry_after


class CurrentPasswordWrong(DomainError):
    """A signed-in caller changing the password gave a wrong current one."""

    slug = "current-password-wrong"
    title = "Current password is wrong"


class WeakPassword(DomainError):
    slug = "weak-password"
    title = "Password too weak"


class EmailTaken(DomainError):
    slug = "email-taken"
    title = "E-mail already registered"


class InvalidToken(DomainError):
    slug = "invalid-token"
    title = "Invalid or expired token"


class PlanRequired(DomainError):
    """The caller's plan does not include the feature."""

    title = "Plan upgrade required"

    def __init__(self, plan: str, detail: str | None = None) -> None:
        super().__init__(detail or f"This endpoint needs the {plan} plan.")
        self.plan = plan
        self.slug = f"{plan}-plan-required"


class OriginNotAllowed(DomainError):
    """A browser call from an origin the account did not register (``null`` never is)."""

    slug = "origin-not-registered"
    title = "Origin not registered"


class NotFound(DomainError):
    slug = "not-found"
    title = "Not found"


class UserNotFound(NotFound):
    slug = "user-not-found"
    title = "User not found"


class Overloaded(DomainError):
    slug = "overloaded"
    title = "Service busy"

    def __init__(
        self, retry_after: int, detail: str = "Too many images are being processed."
    ) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class LimitsUnavailable(Overloaded):
    """The shared store of throttles and rate limits cannot be reached.

    Limits fail closed: a login or a request that cannot be counted is refused
    for a few seconds rather than let through uncounted (docs/operations.md, Redis).
    """

    slug = "limits-unavailable"
    title = "Limits store unavailable"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, "The service cannot check its limits right now.")


class QuotaExceeded(DomainError):
    slug = "quota-exceeded"
    title = "Storage quota exceeded"


class LinkInvalid(DomainError):
    slug = "link-invalid"
    title = "Invalid or expired link"


@attrs.frozen
class FileProblem:
    """Why one uploaded file was refused.

    Attributes:
        name: the file name as uploaded.
        slug: stable machine-readable reason, e.g. ``unsupported-format``.
        detail: a sentence for people.
    """

    name: str
    slug: str
    detail: str


class ImageRejected(DomainError):
    """One file could not be accepted; ``slug`` picks the status at the edge."""

    title = "Image rejected"

    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.slug = slug


class BatchRejected(DomainError):
    """All or nothing: one or more files of a batch were refused, nothing was stored."""

    slug = "images-rejected"
    title = "One or more images were rejected"

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        names = ", ".join(p.name for p in problems)
        super().__init__(f"{len(problems)} file(s) refused: {names}. Nothing was stored.")
        self.problems = tuple(problems)


class StorageFull(DomainError):
    """The disk (or quota) under the database or the blob store is full; nothing was stored."""

    slug = "storage-full"
    title = "Storage full"

    def __init__(
        self, detail: str = "The server has no room left to store this; nothing was stored."
    ) -> None:
        super().__init__(detail)
