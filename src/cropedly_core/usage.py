"""Per-plan rate limits and monthly image quotas, and the usage they leave.

Requests are counted per account in fixed one-minute windows and images per
calendar month (UTC). Fixed windows keep the counter store simple and shared:
one integer per account and window, in an in-memory dict for one process or in
Redis (``RedisUsageCounters``) when several processes serve one account. A
client may burst up to twice the limit across a window boundary; the per-minute
limit is a fairness bound, not a security one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

import attrs

from cropedly_core.errors import TooManyAttempts
from cropedly_core.users import Plan, User

MINUTE = 60


class RateLimited(TooManyAttempts):
    """More requests this minute than the plan allows."""

    slug = "rate-limited"
    title = "Rate limit exceeded"

    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(retry_after, f"The plan allows {limit} requests per minute")
        self.limit = limit


class MonthlyImagesExceeded(TooManyAttempts):
    """The images of this request would pass the plan's monthly quota."""

    slug = "monthly-images-exceeded"
    title = "Monthly image quota exceeded"

    def __init__(self, retry_after: int, limit: int, used: int) -> None:
        super().__init__(
            retry_after,
            f"The plan allows {limit} images per month and {used} were processed",
        )


@attrs.frozen
class PlanLimits:
    """What one plan allows.

    Attributes:
        requests_per_minute: authenticated requests per account per minute.
        images_per_month: images enhanced per account per calendar month (UTC).
    """

    requests_per_minute: int
    images_per_month: int


DEFAULT_LIMITS: Mapping[Plan, PlanLimits] = {
    Plan.FREE: PlanLimits(requests_per_minute=30, images_per_month=0),
    Plan.PRO: PlanLimits(requests_per_minute=120, images_per_month=1_000),
    Plan.ENTERPRISE: PlanLimits(requests_per_minute=600, images_per_month=100_000),
}


class UsageCounters(Protocol):
    """Counters per key and window: the state of the rate limits (the throttle port).

    Keys are opaque text; a window is named by the text ``window``. Implementations
    make ``add`` atomic and may forget a window once ``expires`` has passed.
    """

    def add(self, key: str, window: str, amount: int, expires: datetime) -> int:
        """Add ``amount`` (may be negative) to the counter and return its new value."""
        ...

    def get(self, key: str, window: str) -> int:
        """The counter's value, 0 when it was never added to or has expired."""
        ...


@attrs.frozen
class RateState:
    """Where an account stands in its current minute, for the RateLimit headers.

    Attributes:
        limit: requests allowed per window.
        remaining: requests left in this window (0 when refused).
        reset: seconds until the window ends.
        window: the window's length in seconds.
    """

    limit: int
    remaining: int
    reset: int
    window: int = MINUTE


@attrs.frozen
class UsageReport:
    """An account's usage this period against its plan's limits.

    Attributes:
        plan: the plan whose limits apply.
        period_start: first instant of this month (UTC).
        period_end: first instant of the next month.
        images_processed: images enhanced this month.
        images_limit: images allowed per month.
        bytes_stored: bytes of the account's reference catalog.
        bytes_limit: bytes the catalog may hold (0 for plans without a catalog).
        catalog_images: images in the catalog.
        catalog_images_limit: images the catalog may hold.
        requests_per_minute: the plan's request rate limit.
    """

    plan: Plan
    period_start: datetime
    period_end: datetime
    images_processed: int
    images_limit: int
    bytes_stored: int
    bytes_limit: int
    catalog_images: int
    catalog_images_limit: int
    requests_per_minute: int


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) holding ``now``: its first instant and the next month's."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


@attrs.define
class Usage:
    """Counts requests and images per account against the limits of its plan."""

    counters: UsageCounters
    limits: Mapping[Plan, PlanLimits] = attrs.field(factory=lambda: dict(DEFAULT_LIMITS))

    def limits_of(self, user: User) -> PlanLimits:
        return self.limits[user.plan]

    def take_request(self, user: User, now: datetime) -> RateState:
        """Count one request; raises ``RateLimited`` past the plan's limit.

        The plan is the stored one (the caller authenticated against the
        repository), so an upgrade or downgrade applies from the next request.
        """
        limit = self.limits_of(user).requests_per_minute
        seconds = now.timestamp()
        window_start = int(seconds // MINUTE) * MINUTE
        reset = max(1, window_start + MINUTE - int(seconds))
        expires = datetime.fromtimestamp(window_start + MINUTE, UTC)
        count = self.counters.add(f"requests:{user.id}", str(window_start), 1, expires)
        if count > limit:
            raise RateLimited(reset, limit)
        return RateState(limit=limit, remaining=limit - count, reset=reset)

    def reserve_images(self, user: User, count: int, now: datetime) -> None:
        """Count ``count`` images this month, or raise ``MonthlyImagesExceeded`` counting none."""
        limit = self.limits_of(user).images_per_month
        start, end = month_bounds(now)
        key, window = f"images:{user.id}", start.strftime("%Y-%m")
        total = self.counters.add(key, window, count, end + timedelta(days=1))
        if total > limit:
            self.counters.add(key, window, -count, end + timedelta(days=1))
            wait = max(1, int((end - now).total_seconds()))
            raise MonthlyImagesExceeded(wait, limit, total - count)

    def release_images(self, user: User, count: int, now: datetime) -> None:
        """Give back images reserved for a request that stored nothing."""
        start, end = month_bounds(now)
        self.counters.add(f"images:{user.id}", start.strftime("%Y-%m"), -count, end)

    def report(
        self, user: User, now: datetime, catalog: tuple[int, int], quota: tuple[int, int]
    ) -> UsageReport:
        """This month's usage; ``catalog`` and ``quota`` are (images, bytes) of the catalog."""
        limits = self.limits_of(user)
        start, end = month_bounds(now)
        enterprise = user.plan.includes(Plan.ENTERPRISE)
        return UsageReport(
            plan=user.plan,
            period_start=start,
            period_end=end,
            images_processed=self.counters.get(f"images:{user.id}", start.strftime("%Y-%m")),
            images_limit=limits.images_per_month,
            bytes_stored=catalog[1],
            bytes_limit=quota[1] if enterprise else 0,
            catalog_images=catalog[0],
            catalog_images_limit=quota[0] if enterprise else 0,
            requests_per_minute=limits.requests_per_minute,
        )
