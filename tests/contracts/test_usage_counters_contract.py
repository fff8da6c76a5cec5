"""The counters behind rate limits and quotas (the throttle port).

In-memory now; the scale-out issue adds a Redis adapter to ``ADAPTERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeAlias

import pytest

from cropedly_adapters.memory import InMemoryUsageCounters, ManualClock
from cropedly_core.usage import UsageCounters

Factory: TypeAlias = Callable[[ManualClock], UsageCounters]
ADAPTERS: dict[str, Factory] = {"memory": InMemoryUsageCounters}


@pytest.fixture(params=list(ADAPTERS))
def made(request: pytest.FixtureRequest) -> tuple[UsageCounters, ManualClock]:
    clock = ManualClock()
    return ADAPTERS[request.param](clock), clock


class TestUsageCounters:
    def test_add_returns_the_new_value(self, made: tuple[UsageCounters, ManualClock]) -> None:
        counters, clock = made
        expires = clock.now() + timedelta(minutes=1)
        assert 1 == counters.add("k", "w", 1, expires)
        assert 4 == counters.add("k", "w", 3, expires)
        assert 4 == counters.get("k", "w")

    def test_keys_and_windows_are_apart(self, made: tuple[UsageCounters, ManualClock]) -> None:
        counters, clock = made
        expires = clock.now() + timedelta(minutes=1)
        counters.add("k", "w1", 2, expires)
        assert 0 == counters.get("k", "w2")
        assert 0 == counters.get("other", "w1")

    def test_negative_amounts_give_back(self, made: tuple[UsageCounters, ManualClock]) -> None:
        counters, clock = made
        expires = clock.now() + timedelta(minutes=1)
        counters.add("k", "w", 3, expires)
        assert 1 == counters.add("k", "w", -2, expires)

    def test_expired_windows_read_as_zero(self, made: tuple[UsageCounters, ManualClock]) -> None:
        counters, clock = made
        counters.add("k", "w", 5, clock.now() + timedelta(seconds=30))
        clock.advance(timedelta(seconds=31))
        assert 0 == counters.get("k", "w")
        assert 1 == counters.add("k", "w", 1, clock.now() + timedelta(seconds=30))
