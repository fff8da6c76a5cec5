"""The failed-login throttle: a sliding window per e-mail and per client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cropedly_core.throttle import InProcessAttemptLog, LoginThrottle, ThrottlePolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def wait_of(throttle: LoginThrottle, email: str, client: str, now: datetime) -> int:
    """The wait a login would get now, without leaving an attempt in flight."""
    wait = throttle.reserve(email, client, now)
    if not wait:
        throttle.release(email, client)
    return wait


policies = st.builds(
    ThrottlePolicy,
    per_email=st.integers(1, 5),
    per_client=st.integers(1, 8),
    per_email_all_clients=st.integers(5, 10),
    window=st.integers(1, 600).map(lambda s: timedelta(seconds=s)),
)
# (milliseconds since the previous attempt, e-mail index, client index)
attempts = st.lists(
    st.tuples(st.integers(0, 120_000), st.integers(0, 2), st.integers(0, 2)), max_size=80
)


class TestLoginThrottle:
    @given(policy=policies, attempts=attempts)
    def test_never_more_than_the_limit_in_any_window(
        self, policy: ThrottlePolicy, attempts: list[tuple[int, int, int]]
    ) -> None:
        """A caller who tries whenever allowed never gets more than N failures inside one window, per key."""
        throttle = LoginThrottle(policy)
        now = T0
        allowed: dict[str, list[tuple[datetime, int]]] = {}
        for gap, email, client in attempts:
            now += timedelta(milliseconds=gap)
            if wait_of(throttle, f"e{email}", f"c{client}", now) == 0:
                throttle.record_failure(f"e{email}", f"c{client}", now)
                allowed.setdefault(f"e:{email}", []).append((now, client))
                allowed.setdefault(f"c:{client}", []).append((now, client))
        for key, events in allowed.items():
            for t, _ in events:
                inside = [c for s, c in events if t - policy.window < s <= t]
                if key.startswith("c:"):
                    assert len(inside) <= policy.per_client, (key, t)
                else:
                    # past per_email, only a client without failures gets one more try
                    assert len(inside) <= policy.per_email + len(set(inside)), (key, t)
                    assert len(inside) <= policy.per_email_all_clients, (key, t)

    @given(policy=policies, gaps=st.lists(st.integers(0, 5_000), min_size=1, max_size=10))
    def test_blocked_exactly_when_the_window_is_full(
        self, policy: ThrottlePolicy, gaps: list[int]
    ) -> None:
        """the wait is positive exactly when the e-mail has N failures inside the window."""
        throttle = LoginThrottle(ThrottlePolicy(policy.per_email, 10**6, policy.window))
        now, recorded = T0, []
        for gap in gaps:
            now += timedelta(milliseconds=gap)
            throttle.record_failure("e", "c", now)
            recorded.append(now)
            inside = [t for t in recorded if t > now - policy.window]
            assert (len(inside) >= policy.per_email) == (wait_of(throttle, "e", "c", now) > 0)

    @given(policy=policies, steps=st.lists(st.integers(1, 60_000), min_size=1, max_size=30))
    def test_the_wait_decreases_as_time_passes(
        self, policy: ThrottlePolicy, steps: list[int]
    ) -> None:
        """Without new failures the wait never grows, and it is over one window after the last failure."""
        throttle = LoginThrottle(policy)
        for _ in range(policy.per_email):
            throttle.record_failure("e", "c", T0)
        now = T0
        previous = wait_of(throttle, "e", "c", now)
        assert 0 < previous <= policy.window.total_seconds()
        for step in steps:
            now += timedelta(milliseconds=step)
            wait = wait_of(throttle, "e", "c", now)
            assert wait <= previous
            if wait:
                # honouring Retry-After is enough: waiting that long unblocks
                assert 0 == wait_of(throttle, "e", "c", now + timedelta(seconds=wait))
            previous = wait
        assert 0 == wait_of(throttle, "e", "c", T0 + policy.window)

    def test_a_client_limit_above_the_email_limits_holds(self) -> None:
        """Failures kept per key cover the client's limit too when it is the highest (hypothesis found it)."""
        throttle = LoginThrottle(ThrottlePolicy(per_email=5, per_client=6, per_email_all_clients=5))
        allowed = 0
        for n in range(12):
            if wait_of(throttle, f"e{n % 3}", "c", T0) == 0:
                throttle.record_failure(f"e{n % 3}", "c", T0)
                allowed += 1
        assert 6 == allowed

    def test_client_limit_applies_across_emails(self) -> None:
        """One client spraying many e-mails is stopped by the per-client budget."""
        throttle = LoginThrottle(ThrottlePolicy(per_email=5, per_client=3))
        for n in range(3):
            assert 0 == wait_of(throttle, f"e{n}", "c", T0)
            throttle.record_failure(f"e{n}", "c", T0)
        assert wait_of(throttle, "fresh", "c", T0) > 0
        assert 0 == wait_of(throttle, "fresh", "other-client", T0)

    def test_success_clears_the_email_not_the_client(self) -> None:
        """A successful login resets its e-mail's count but keeps the client's."""
        throttle = LoginThrottle(ThrottlePolicy(per_email=2, per_client=2))
        throttle.record_failure("e", "c", T0)
        throttle.record_failure("e", "c", T0)
        throttle.record_success("e")
        assert 0 == wait_of(throttle, "e", "elsewhere", T0)
        assert wait_of(throttle, "other", "c", T0) > 0

    def test_memory_is_bounded(self) -> None:
        """A spray of random e-mails inside one window cannot grow the counters past max_keys."""
        throttle = LoginThrottle(ThrottlePolicy(max_keys=50))
        for n in range(500):
            throttle.record_failure(f"e{n}", f"c{n}", T0 + timedelta(seconds=n))
        assert throttle.keys() <= 100

    def test_expired_keys_are_deleted(self) -> None:
        """Failures older than the window leave no key behind once time moves on."""
        throttle = LoginThrottle(ThrottlePolicy(window=timedelta(minutes=1)))
        for n in range(200):
            throttle.record_failure(f"e{n}", "c", T0)
        assert throttle.keys() == 201
        assert 0 == wait_of(throttle, "someone", "else", T0 + timedelta(minutes=2))
        assert throttle.keys() == 0

    def test_keys_are_fixed_size_digests(self) -> None:
        """An e-mail of megabytes is stored as 16 bytes, not kept whole."""
        throttle = LoginThrottle()
        huge = "x" * 5_000_000 + "@example.com"
        throttle.record_failure(huge, "c", T0)
        assert isinstance(throttle.log, InProcessAttemptLog)
        keys = list(throttle.log._events)
        assert [16, 16] == [len(k) for k in keys]

    def test_evicting_keeps_the_most_recent_keys(self) -> None:
        """Past max_keys the least recently failed key goes, not every counter at once."""
        throttle = LoginThrottle(ThrottlePolicy(per_email=2, per_client=10**6, max_keys=10))
        throttle.record_failure("victim", "c", T0)
        throttle.record_failure("victim", "c", T0)
        for n in range(9):
            throttle.record_failure(f"e{n}", "c", T0)
        # 10 keys fit: the victim is still blocked after 9 others came along
        assert wait_of(throttle, "victim", "c", T0) > 0

    def test_reserve_counts_attempts_in_flight(self) -> None:
        """reserve() admits N attempts at once; the next waits a second, until one is released."""
        throttle = LoginThrottle(ThrottlePolicy(per_email=2, per_client=10))
        assert [0, 0] == [throttle.reserve("e", "c", T0) for _ in range(2)]
        assert 1 == throttle.reserve("e", "c", T0)
        throttle.release("e", "c")
        assert 0 == throttle.reserve("e", "c", T0)

    def test_released_successes_leave_no_trace(self) -> None:
        """Attempts released without a recorded failure never count against their client."""
        throttle = LoginThrottle(ThrottlePolicy(per_email=10, per_client=2))
        for n in range(5):
            assert 0 == throttle.reserve(f"e{n}", "c", T0)
            throttle.release(f"e{n}", "c")
            throttle.record_success(f"e{n}")
        assert 0 == wait_of(throttle, "new", "c", T0)
        assert isinstance(throttle.log, InProcessAttemptLog)
        assert {} == throttle.log._pending


class TestLockoutSparesTheOwner:
    """A locked e-mail refuses the clients that failed, not its owner (OWASP, "Account Lockout")."""

    def test_a_client_without_failures_gets_through_a_locked_email(self) -> None:
        """Five failures from an attacker lock the attacker out, not a client with a clean record."""
        throttle = LoginThrottle(ThrottlePolicy(per_email=5, per_client=20))
        for _ in range(5):
            throttle.record_failure("victim@example.com", "attacker", T0)
        assert wait_of(throttle, "victim@example.com", "attacker", T0) > 0
        assert 0 == wait_of(throttle, "victim@example.com", "owner", T0)

    def test_one_failure_puts_a_client_among_the_locked(self) -> None:
        """A new address that fails once on a locked e-mail is refused next time."""
        throttle = LoginThrottle(ThrottlePolicy(per_email=2, per_client=20))
        for _ in range(2):
            throttle.record_failure("e", "a", T0)
        assert 0 == wait_of(throttle, "e", "b", T0)
        throttle.record_failure("e", "b", T0)
        assert wait_of(throttle, "e", "b", T0) > 0

    def test_many_addresses_lock_the_email_for_everyone(self) -> None:
        """Past per_email_all_clients failures the e-mail is locked for every client."""
        throttle = LoginThrottle(
            ThrottlePolicy(per_email=2, per_client=20, per_email_all_clients=6)
        )
        for n in range(6):
            assert 0 == wait_of(throttle, "e", f"c{n}", T0)
            throttle.record_failure("e", f"c{n}", T0)
        assert wait_of(throttle, "e", "owner", T0) > 0
        assert 0 == wait_of(throttle, "e", "owner", T0 + timedelta(minutes=15))
