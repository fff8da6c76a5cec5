"""Throttles: failed logins per e-mail and per client, and plain rate limits.

Memory is bounded whatever callers send: keys are fixed-size digests (an 80 MB
"e-mail" costs 16 bytes), each key keeps at most ``limit`` timestamps, expired
keys are swept as time passes, and past ``max_keys`` the least recently used keys
go first. Evicting a key forgets its failures, so an attacker could only flush a
victim's counter by spraying ``max_keys`` fresh keys, which the per-client limit
turns into ``max_keys / per_client`` addresses within one window.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta

import attrs

MAX_KEYS = 100_000


def digest(kind: str, value: str) -> bytes:
    """A 16-byte key for any text: what the throttles store instead of the text."""
    data = f"{kind}\0{value}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


class SlidingWindow:
    """At most ``limit`` events per key inside a sliding ``window``; not thread-safe alone."""

    def __init__(self, limit: int, window: timedelta, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self.window = window.total_seconds()
        self.max_keys = max_keys
        self._events: OrderedDict[bytes, deque[float]] = OrderedDict()
        self._next_sweep = -math.inf

    def __len__(self) -> int:
        return len(self._events)

    def wait(self, key: bytes, now: float, in_flight: int = 0, limit: int | None = None) -> int:
        """Seconds until one more event is allowed, 0 when it is allowed now.

        ``limit`` (at most the window's own) asks about a lower threshold.
        """
        limit = self.limit if limit is None else min(limit, self.limit)
        self._sweep(now)
        times = self._live(key, now)
        count = len(times) if times else 0
        if count + in_flight < limit:
            return 0
        if times is None or count < limit:
            return 1  # only attempts still in flight fill the budget: they end soon
        return max(1, math.ceil(times[-limit] + self.window - now))

    def count(self, key: bytes, now: float) -> int:
        """Events of ``key`` inside the window."""
        times = self._live(key, now)
        return len(times) if times else 0

    def hit(self, key: bytes, now: float) -> None:
        self._sweep(now)
        times = self._events.get(key)
        if times is None:
            while len(self._events) >= self.max_keys:
                self._events.popitem(last=False)  # least recently used
            times = self._events[key] = deque(maxlen=self.limit)
        else:
            self._events.move_to_end(key)
        times.append(now)

    def forget(self, key: bytes) -> None:
        self._events.pop(key, None)

    def _live(self, key: bytes, now: float) -> deque[float] | None:
        times = self._events.get(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if times is not None and not times:
            del self._events[key]
            return None
        return times

    def _sweep(self, now: float) -> None:
        """Drop keys whose newest event left the window; at most once per tenth of a window."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + max(self.window / 10, 1.0)
        cutoff = now - self.window
        stale = [k for k, times in self._events.items() if not times or times[-1] <= cutoff]
        for key in stale:
            del self._events[key]


class RateLimit:
    """A thread-safe sliding-window rate limit over any text key (registrations, mails)."""

    def __init__(self, kind: str, limit: int, window: timedelta, max_keys: int = MAX_KEYS) -> None:
        self._kind = kind
        self._window = SlidingWindow(limit, window, max_keys)
        self._lock = threading.Lock()

    def take(self, value: str, now: datetime) -> int:
        """Count one event and return 0, or return the wait without counting it."""
        key, moment = digest(self._kind, value), now.timestamp()
        with self._lock:
            wait = self._window.wait(key, moment)
            if not wait:
                self._window.hit(key, moment)
            return wait

    def __len__(self) -> int:
        return len(self._window)


@attrs.frozen
class ThrottlePolicy:
    """How many failures a key may have inside a sliding window.

    Attributes:
        per_email: failures allowed for one e-mail in the window before the clients
            that have been failing are locked out of it.
        per_client: failures allowed from one client address in the window.
        window: the sliding window.
        max_keys: keys kept per counter before the least recently used go.
        per_email_all_clients: failures for one e-mail in the window after which
            every client is locked out of it, also the ones that had not been failing.
    """

    per_email: int = 5
    per_client: int = 20
    window: timedelta = timedelta(minutes=15)
    max_keys: int = MAX_KEYS
    per_email_all_clients: int = 50


class LoginThrottle:
    """Failed logins per e-mail and per client address, kept in process memory.

    A locked e-mail does not lock its owner out (OWASP Authentication Cheat Sheet,
    "Account Lockout": a lockout that anyone can trigger is a denial of service):
    past ``per_email`` failures only the clients that have themselves failed in the
    window (or have an attempt in flight) are refused; a client with a clean record
    still gets its attempts, and one failure puts it among the refused. An attacker
    spread over many addresses gets one guess per address per window, and past
    ``per_email_all_clients`` failures the e-mail is locked for every client.

    One server process keeps its own counters: with N workers an attacker gets
    at most N times the budget, which is still a hard bound (see operations docs).
    """

    def __init__(self, policy: ThrottlePolicy | None = None) -> None:
        self.policy = policy or ThrottlePolicy()
        self._emails = SlidingWindow(
            max(self.policy.per_email, self.policy.per_email_all_clients),
            self.policy.window,
            self.policy.max_keys,
        )
        self._clients = SlidingWindow(
            self.policy.per_client, self.policy.window, self.policy.max_keys
        )
        self._pending: dict[bytes, int] = {}  # attempts reserved and not yet released
        self._lock = threading.Lock()

    def keys(self) -> int:
        """How many keys the counters hold (memory is proportional to it)."""
        return len(self._emails) + len(self._clients) + len(self._pending)

    def reserve(self, email: str, client: str, now: datetime) -> int:
        """The wait, or 0 after counting the attempt as in flight until ``release``.

        Check and count are one step: concurrent logins each hash for tens of
        milliseconds, and checking without counting let every request in flight through.
        """
        moment = now.timestamp()
        pairs = self._pairs(email, client)
        (_, email_key), (_, client_key) = pairs
        with self._lock:
            pending = self._pending.get
            wait = self._clients.wait(client_key, moment, pending(client_key, 0))
            failing = pending(client_key, 0) > 0 or self._clients.count(client_key, moment) > 0
            # A client that has been failing meets the e-mail's low threshold, any other
            # only the high one: the owner with the right password still gets in.
            threshold = self.policy.per_email if failing else self.policy.per_email_all_clients
            wait = max(wait, self._emails.wait(email_key, moment, pending(email_key, 0), threshold))
            if not wait:
                for _, key in pairs:
                    self._pending[key] = self._pending.get(key, 0) + 1
            return wait

    def release(self, email: str, client: str) -> None:
        """End an attempt counted by ``reserve`` (after recording its outcome)."""
        with self._lock:
            for _, key in self._pairs(email, client):
                left = self._pending.get(key, 0) - 1
                if left > 0:
                    self._pending[key] = left
                else:
                    self._pending.pop(key, None)

    def record_failure(self, email: str, client: str, now: datetime) -> None:
        moment = now.timestamp()
        with self._lock:
            for window, key in self._pairs(email, client):
                window.hit(key, moment)

    def record_success(self, email: str) -> None:
        with self._lock:
            self._emails.forget(digest("email", email))

    def _pairs(self, email: str, client: str) -> tuple[tuple[SlidingWindow, bytes], ...]:
        return (
            (self._emails, digest("email", email)),
            (self._clients, digest("client", client)),
        )
