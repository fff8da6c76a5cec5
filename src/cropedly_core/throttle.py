"""Failed-login throttling, per e-mail and per client address."""

from __future__ import annotations

import math
import threading
from collections import deque
from datetime import datetime, timedelta

import attrs


@attrs.frozen
class ThrottlePolicy:
    """How many failures a key may have inside a sliding window.

    Attributes:
        per_email: failures allowed for one e-mail in the window.
        per_client: failures allowed from one client address in the window.
        window: the sliding window.
    """

    per_email: int = 5
    per_client: int = 20
    window: timedelta = timedelta(minutes=15)


class LoginThrottle:
    """Sliding-window counters of failed logins kept in process memory.

    One server process keeps its own counters: with N workers an attacker gets
    at most N times the budget, which is still a hard bound (see operations docs).
    """

    _MAX_KEYS = 100_000  # bounds memory under a spray of random e-mails

    def __init__(self, policy: ThrottlePolicy | None = None) -> None:
        self.policy = policy or ThrottlePolicy()
        self._failures: dict[str, deque[datetime]] = {}
        self._pending: dict[str, int] = {}  # attempts reserved and not yet released
        self._lock = threading.Lock()

    def retry_after(self, email: str, client: str, now: datetime) -> int:
        """Seconds the caller must wait, or 0 when it may try now."""
        waits = [
            self._wait(f"e:{email}", self.policy.per_email, now),
            self._wait(f"c:{client}", self.policy.per_client, now),
        ]
        return max(waits)

    def reserve(self, email: str, client: str, now: datetime) -> int:
        """The wait, or 0 after counting the attempt as in flight until ``release``.

        Check and count are one step: concurrent logins each hash for tens of
        milliseconds, and checking without counting let every request in flight through.
        """
        keys = ((f"e:{email}", self.policy.per_email), (f"c:{client}", self.policy.per_client))
        with self._lock:
            wait = max(self._wait(k, limit, now, self._pending.get(k, 0)) for k, limit in keys)
            if not wait:
                for key, _ in keys:
                    self._pending[key] = self._pending.get(key, 0) + 1
            return wait

    def release(self, email: str, client: str) -> None:
        """End an attempt counted by ``reserve`` (after recording its outcome)."""
        with self._lock:
            for key in (f"e:{email}", f"c:{client}"):
                left = self._pending.get(key, 0) - 1
                if left > 0:
                    self._pending[key] = left
                else:
                    self._pending.pop(key, None)

    def record_failure(self, email: str, client: str, now: datetime) -> None:
        if len(self._failures) >= self._MAX_KEYS:
            self._evict(now)
        for key in (f"e:{email}", f"c:{client}"):
            self._failures.setdefault(key, deque()).append(now)

    def record_success(self, email: str) -> None:
        self._failures.pop(f"e:{email}", None)

    def _wait(self, key: str, limit: int, now: datetime, in_flight: int = 0) -> int:
        times = self._failures.get(key)
        cutoff = now - self.policy.window
        while times and times[0] <= cutoff:
            times.popleft()
        count = len(times) if times else 0
        if count + in_flight < limit:
            return 0
        if times is None or count < limit:
            return 1  # only attempts still in flight fill the budget: they end soon
        oldest_relevant = times[-limit]
        wait = (oldest_relevant + self.policy.window - now).total_seconds()
        return max(1, math.ceil(wait))

    def _evict(self, now: datetime) -> None:
        cutoff = now - self.policy.window
        stale = [k for k, v in self._failures.items() if not v or v[-1] <= cutoff]
        for key in stale:
            del self._failures[key]
        if len(self._failures) >= self._MAX_KEYS:
            self._failures.clear()
