"""The ``AttemptLog`` contract (the throttles' state), in process memory and in Redis.

Also the throttles over it: several handles on one log (processes, for Redis)
hammering one key never let more than the limit through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

import pytest

from cropedly_adapters.redis_limits import RedisAttemptLog, connect
from cropedly_core.throttle import (
    IN_FLIGHT_SECONDS,
    AttemptLog,
    InProcessAttemptLog,
    LoginThrottle,
    RateLimit,
    ThrottlePolicy,
    digest,
)

Opener: TypeAlias = Callable[[], AttemptLog]
T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
A, B = digest("email", "a@example.com"), digest("client", "192.0.2.1")
WINDOW = 60.0


@pytest.fixture(params=["memory", "redis"])
def opener(request: pytest.FixtureRequest) -> Opener:
    """Each call gives one more handle on the same log."""
    if request.param == "memory":
        shared = InProcessAttemptLog()
        return lambda: shared
    url = request.getfixturevalue("redis_url")
    return lambda: RedisAttemptLog(connect(url))


@pytest.fixture
def log(opener: Opener) -> AttemptLog:
    return opener()


class TestAttemptLog:
    def test_a_fresh_key_has_only_the_callers_attempt(self, log: AttemptLog) -> None:
        (state,) = log.begin("x", [A], T0, WINDOW, 5)
        assert ((), 1) == (state.times, state.in_flight)

    def test_begin_counts_attempts_until_they_end(self, log: AttemptLog) -> None:
        log.begin("x", [A, B], T0, WINDOW, 5)
        second = log.begin("y", [A, B], T0, WINDOW, 5)
        assert [2, 2] == [s.in_flight for s in second]
        log.end("x", [A, B])
        log.end("y", [A, B])
        assert [1, 1] == [s.in_flight for s in log.begin("z", [A, B], T0, WINDOW, 5)]

    def test_failures_come_back_oldest_first(self, log: AttemptLog) -> None:
        for n in range(3):
            log.fail([A, B], T0 + n + 0.25, WINDOW, 5)
        states = log.begin("x", [A, B], T0 + 10, WINDOW, 5)
        expected = (T0 + 0.25, T0 + 1.25, T0 + 2.25)
        assert [expected, expected] == [s.times for s in states]

    def test_only_the_newest_keep_failures_are_kept(self, log: AttemptLog) -> None:
        for n in range(8):
            log.fail([A], T0 + n, WINDOW, 3)
        (state,) = log.begin("x", [A], T0 + 8, WINDOW, 3)
        assert (T0 + 5, T0 + 6, T0 + 7) == state.times

    def test_failures_leave_with_the_window(self, log: AttemptLog) -> None:
        log.fail([A], T0, WINDOW, 5)
        log.fail([A], T0 + 30, WINDOW, 5)
        (state,) = log.begin("x", [A], T0 + WINDOW, WINDOW, 5)
        assert (T0 + 30,) == state.times  # exactly one window old is out
        (state,) = log.begin("y", [A], T0 + WINDOW + 31, WINDOW, 5)
        assert () == state.times

    def test_forget_drops_failures_of_that_key_only(self, log: AttemptLog) -> None:
        log.fail([A, B], T0, WINDOW, 5)
        log.forget(A)
        a, b = log.begin("x", [A, B], T0 + 1, WINDOW, 5)
        assert ((), (T0,)) == (a.times, b.times)

    def test_identical_failures_at_one_instant_all_count(self, log: AttemptLog) -> None:
        for _ in range(4):
            log.fail([A], T0, WINDOW, 10)
        (state,) = log.begin("x", [A], T0, WINDOW, 10)
        assert 4 == len(state.times)

    def test_keys_are_apart(self, log: AttemptLog) -> None:
        log.fail([A], T0, WINDOW, 5)
        log.begin("x", [A], T0, WINDOW, 5)
        (state,) = log.begin("y", [B], T0, WINDOW, 5)
        assert ((), 1) == (state.times, state.in_flight)


@pytest.fixture
def redis_log(redis_url: str) -> RedisAttemptLog:
    return RedisAttemptLog(connect(redis_url))


def test_redis_attempts_of_a_dead_process_expire(redis_log: RedisAttemptLog) -> None:
    """An attempt never ended (its process was killed) stops counting after IN_FLIGHT_SECONDS."""
    redis_log.begin("dead", [A], T0, WINDOW, 5)
    (state,) = redis_log.begin("x", [A], T0 + 1, WINDOW, 5)
    assert 2 == state.in_flight
    (state,) = redis_log.begin("y", [A], T0 + IN_FLIGHT_SECONDS + 0.5, WINDOW, 5)
    assert 2 == state.in_flight  # "x" began within the minute; "dead" is gone


def _hammer(workers: int, act: Callable[[], bool]) -> int:
    """Run ``act`` from ``workers`` threads at once, 20 times each; how many returned True."""
    allowed = 0
    lock = threading.Lock()
    barrier = threading.Barrier(workers)

    def run() -> None:
        nonlocal allowed
        barrier.wait()
        for _ in range(20):
            if act():
                with lock:
                    allowed += 1

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return allowed


class TestThrottlesOverTheLog:
    def test_a_rate_limit_hammered_from_several_handles_never_passes_its_limit(
        self, opener: Opener
    ) -> None:
        """Four handles take one key 80 times inside a window: exactly the limit gets through."""
        now = datetime.fromtimestamp(T0, UTC)
        limits = [RateLimit("signup", 7, timedelta(hours=1), opener()) for _ in range(4)]
        local = threading.local()
        counter = iter(range(4))
        lock = threading.Lock()

        def take() -> bool:
            if not hasattr(local, "limit"):
                with lock:
                    local.limit = limits[next(counter)]
            return local.limit.take("198.51.100.7", now) == 0

        assert 7 == _hammer(4, take)
        # Once the hammering stops, nothing is left in flight: the next one waits the window.
        assert 3000 < limits[0].take("198.51.100.7", now) <= 3600

    def test_failed_logins_hammered_from_several_handles_never_pass_the_limit(
        self, opener: Opener
    ) -> None:
        """Concurrent wrong passwords for one e-mail from one client: at most per_email fail."""
        now = datetime.fromtimestamp(T0, UTC)
        policy = ThrottlePolicy(per_email=5, per_client=100)
        throttles = [LoginThrottle(policy, opener()) for _ in range(4)]
        local = threading.local()
        counter = iter(range(4))
        lock = threading.Lock()

        def login() -> bool:
            if not hasattr(local, "throttle"):
                with lock:
                    local.throttle = throttles[next(counter)]
            throttle: LoginThrottle = local.throttle
            if throttle.reserve("victim@example.com", "203.0.113.9", now):
                return False
            try:
                throttle.record_failure("victim@example.com", "203.0.113.9", now)
            finally:
                throttle.release("victim@example.com", "203.0.113.9")
            return True

        assert 5 == _hammer(4, login)
        assert throttles[0].reserve("victim@example.com", "203.0.113.9", now) > 800
        # The owner, from a clean address, still gets in (below per_email_all_clients).
        assert 0 == throttles[1].reserve("victim@example.com", "192.0.2.50", now)
