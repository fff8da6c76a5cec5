"""The counters behind rate limits and quotas, in process memory and in Redis."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeAlias

import pytest

from cropedly_adapters.memory import InMemoryUsageCounters, ManualClock
from cropedly_adapters.redis_limits import RedisUsageCounters, connect, redact
from cropedly_core.errors import LimitsUnavailable
from cropedly_core.usage import UsageCounters

Made: TypeAlias = tuple[UsageCounters, ManualClock]
# Each call gives one more handle on the same counters (another process, for Redis).
Opener: TypeAlias = Callable[[], UsageCounters]


def _opener(request: pytest.FixtureRequest, clock: ManualClock) -> Opener:
    if request.param == "memory":
        shared = InMemoryUsageCounters(clock)
        return lambda: shared
    url = request.getfixturevalue("redis_url")
    return lambda: RedisUsageCounters(connect(url), clock.now)


@pytest.fixture(params=["memory", "redis"])
def opener(request: pytest.FixtureRequest) -> tuple[Opener, ManualClock]:
    clock = ManualClock()
    return _opener(request, clock), clock


@pytest.fixture
def made(opener: tuple[Opener, ManualClock]) -> Made:
    open_counters, clock = opener
    return open_counters(), clock


class TestUsageCounters:
    def test_add_returns_the_new_value(self, made: Made) -> None:
        counters, clock = made
        expires = clock.now() + timedelta(minutes=1)
        assert 1 == counters.add("k", "w", 1, expires)
        assert 4 == counters.add("k", "w", 3, expires)
        assert 4 == counters.get("k", "w")

    def test_keys_and_windows_are_apart(self, made: Made) -> None:
        counters, clock = made
        expires = clock.now() + timedelta(minutes=1)
        counters.add("k", "w1", 2, expires)
        assert 0 == counters.get("k", "w2")
        assert 0 == counters.get("other", "w1")

    def test_keys_may_hold_any_character(self, made: Made) -> None:
        """Separators inside keys and windows never make two counters one."""
        counters, clock = made
        expires = clock.now() + timedelta(minutes=1)
        counters.add("a:b", "c", 1, expires)
        counters.add("a", "b:c", 2, expires)
        assert (1, 2) == (counters.get("a:b", "c"), counters.get("a", "b:c"))

    def test_negative_amounts_give_back(self, made: Made) -> None:
        counters, clock = made
        expires = clock.now() + timedelta(minutes=1)
        counters.add("k", "w", 3, expires)
        assert 1 == counters.add("k", "w", -2, expires)
        assert 0 == counters.add("k", "w", -5, expires)

    def test_never_read_is_zero(self, made: Made) -> None:
        counters, _ = made
        assert 0 == counters.get("never", "w")

    def test_expired_windows_read_as_zero(self, made: Made) -> None:
        counters, clock = made
        counters.add("k", "w", 5, clock.now() + timedelta(seconds=30))
        clock.advance(timedelta(seconds=31))
        assert 0 == counters.get("k", "w")
        assert 1 == counters.add("k", "w", 1, clock.now() + timedelta(seconds=30))

    def test_a_later_expiry_extends_the_window(self, made: Made) -> None:
        counters, clock = made
        counters.add("k", "w", 2, clock.now() + timedelta(seconds=30))
        counters.add("k", "w", 1, clock.now() + timedelta(seconds=90))
        clock.advance(timedelta(seconds=60))
        assert 3 == counters.get("k", "w")

    def test_concurrent_adds_from_several_handles_all_count(
        self, opener: tuple[Opener, ManualClock]
    ) -> None:
        """Threads on handles of their own (processes, for Redis) lose no amount and see every value once."""
        open_counters, clock = opener
        expires = clock.now() + timedelta(minutes=1)
        seen: list[int] = []
        lock = threading.Lock()

        def hammer() -> None:
            counters = open_counters()
            for _ in range(50):
                value = counters.add("k", "w", 1, expires)
                with lock:
                    seen.append(value)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert list(range(1, 201)) == sorted(seen)
        assert 200 == open_counters().get("k", "w")


class TestRedisUnreachable:
    def test_a_dead_redis_is_limits_unavailable_fast(self) -> None:
        """Nothing listens: the counters raise the core's 503 error within the timeout, never hang."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # bound, never listening: connections are refused
            counters = RedisUsageCounters(
                connect(f"redis://127.0.0.1:{port}/0", timeout=0.5), ManualClock().now
            )
            started = time.monotonic()
            with pytest.raises(LimitsUnavailable) as raised:
                counters.add("k", "w", 1, ManualClock().now() + timedelta(minutes=1))
            with pytest.raises(LimitsUnavailable):
                counters.get("k", "w")
        assert time.monotonic() - started < 5
        assert raised.value.retry_after > 0


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://***@cache:6379/0"),
        ("rediss://app:s3cret@cache:6380/1", "rediss://app:***@cache:6380/1"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_redact_hides_the_password(url: str, shown: str) -> None:
    assert shown == redact(url)
