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
        self._lock = threading.Lock()

    def retry_after(self, email: str, client: str, now: datetime) -> int:
        """Seconds the caller must wait, or 0 when it may try now."""
        waits = [
            self._wait(f"e:{email}", self.policy.per_email, now),
            self._wait(f"c:{client}", self.policy.per_client, now),
        ]
        return max(waits)

    def reserve(self, email: str, client: str, now: datetime) -> int:
        """Check and count an attempt as one step: the wait, or 0 after counting it.

        Concurrent logins each hash for tens of milliseconds; checking first and
        counting after the hash would let every request in flight through.
        """
        with self._lock:
            wait = self.retry_after(email, client, now)
            if not wait:
                self.record_failure(email, client, now)
            return wait

    def record_failure(self, email: str, client: str, now: datetime) -> None:
        if len(self._failures) >= self._MAX_KEYS:
            self._evict(now)
        for key in (f"e:{email}", f"c:{client}"):
            self._failures.setdefault(key, deque()).append(now)

    def record_success(
        self, email: str, client: str | None = None, at: datetime | None = None
    ) -> None:
        """Forget the e-mail's failures and, given ``client`` and ``at``, that reservation."""
        with self._lock:
            self._failures.pop(f"e:{email}", None)
            times = self._failures.get(f"c:{client}")
            if times and at in times:
                times.remove(at)

    def _wait(self, key: str, limit: int, now: datetime) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        cutoff = now - self.policy.window
        while times and times[0] <= cutoff:
            times.popleft()
        if len(times) < limit:
            return 0
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
