"""Per-plan limits: requests per minute in fixed windows, images per calendar month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cropedly_adapters.memory import InMemoryUsageCounters, ManualClock
from cropedly_core.usage import (
    MonthlyImagesExceeded,
    PlanLimits,
    RateLimited,
    Usage,
    month_bounds,
)
from cropedly_core.users import Plan, User

LIMITS = {plan: PlanLimits(requests_per_minute=2, images_per_month=5) for plan in Plan}


def user(plan: Plan = Plan.PRO, user_id: str = "u1") -> User:
    return User(user_id, "a@example.com", "A", plan, None, datetime(2026, 1, 1, tzinfo=UTC))


def usage_at(moment: datetime) -> tuple[Usage, ManualClock]:
    clock = ManualClock(moment)
    return Usage(InMemoryUsageCounters(clock), LIMITS), clock


class TestRequests:
    def test_remaining_counts_down_and_reset_is_the_rest_of_the_minute(self) -> None:
        usage, clock = usage_at(datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC))
        first = usage.take_request(user(), clock.now())
        assert (2, 1, 45) == (first.limit, first.remaining, first.reset)
        assert 0 == usage.take_request(user(), clock.now()).remaining

    def test_past_the_limit_refused_until_the_next_minute(self) -> None:
        usage, clock = usage_at(datetime(2026, 3, 1, 12, 0, 50, tzinfo=UTC))
        for _ in range(2):
            usage.take_request(user(), clock.now())
        with pytest.raises(RateLimited) as refused:
            usage.take_request(user(), clock.now())
        assert 10 == refused.value.retry_after
        clock.advance(timedelta(seconds=10))
        assert 1 == usage.take_request(user(), clock.now()).remaining


class TestImages:
    def test_a_batch_past_the_quota_counts_nothing(self) -> None:
        usage, clock = usage_at(datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
        usage.reserve_images(user(), 4, clock.now())
        with pytest.raises(MonthlyImagesExceeded) as refused:
            usage.reserve_images(user(), 2, clock.now())
        assert 3600 == refused.value.retry_after
        usage.reserve_images(user(), 1, clock.now())

    def test_released_images_are_given_back(self) -> None:
        usage, clock = usage_at(datetime(2026, 3, 5, tzinfo=UTC))
        usage.reserve_images(user(), 5, clock.now())
        usage.release_images(user(), 5, clock.now())
        usage.reserve_images(user(), 5, clock.now())

    def test_december_rolls_into_january(self) -> None:
        start, end = month_bounds(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
        assert (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)) == (start, end)
