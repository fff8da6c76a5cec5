"""Throttles: failed logins per e-mail and per client, and plain rate limits.

Memory is bounded whatever callers send: keys are fixed-size digests (an 80 MB
"e-mail" costs 16 bytes), each key keeps at most ``limit`` timestamps, expired
keys are swept as time passes, and past ``max_keys`` the least recently used keys
go first. Evicting a key forgets its failures, so an attacker could only flush a
victim's counter by spraying ``max_keys`` fresh keys, which the per-client limit
turns into ``max_keys / per_client`` addresses within one window.

The state lives behind the ``AttemptLog`` port: ``InProcessAttemptLog`` (here, the
default: no I/O) for one process, a Redis adapter (``cropedly_adapters``) when
several processes or machines must share one budget. The rules (which wait, who
is locked out) stay here, the same over either.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs

MAX_KEYS = 100_000


def digest(kind: str, value: str) -> bytes:
    """A 16-byte key for any text: what the throttles store instead of the text."""
    data = f"{kind}\0{value}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


@attrs.frozen
class KeyState:
    """One key of an ``AttemptLog`` as ``begin`` found it.

    Attributes:
        times: failures inside the window (POSIX seconds), oldest first; at most the
            newest ``keep``.
        in_flight: attempts begun and not yet ended, the caller's own included.
    """

    times: tuple[float, ...]
    in_flight: int


class AttemptLog(Protocol):
    """Failures and attempts in flight per key, in a sliding window (the throttle port).

    What the throttles need from a store: the state of several keys read and an
    attempt counted on all of them in one atomic step, so that concurrent attempts,
    in this process or another, each see the others. Keys are the 16-byte digests
    of ``digest``; ``window`` is in seconds, ``keep`` bounds the failures kept per key.
    An attempt left in flight by a crashed process stops counting after a minute.
    """

    def begin(
        self, attempt: str, keys: Sequence[bytes], now: float, window: float, keep: int
    ) -> list[KeyState]:
        """Count ``attempt`` in flight on every key; each key's state, this attempt included."""
        ...

    def end(self, attempt: str, keys: Sequence[bytes]) -> None:
        """The attempt is over (its outcome already recorded)."""
        ...

    def fail(self, keys: Sequence[bytes], now: float, window: float, keep: int) -> None:
        """Record one failure at ``now`` on every key."""
        ...

    def forget(self, key: bytes) -> None:
        """Drop the key's failures (a successful login clears its e-mail)."""
        ...


def wait_for(state: KeyState, limit: int, window: float, now: float) -> int:
    """Seconds until one more attempt on the key is allowed, 0 when it is allowed now.

    The key's own attempt is among ``state.in_flight``; the others in flight count
    as failures to come, so concurrent attempts cannot together pass the limit.
    """
    count, others = len(state.times), state.in_flight - 1
    if count + others < limit:
        return 0
    if count < limit:
        return 1  # only attempts still in flight fill the budget: they end soon
    return max(1, math.ceil(state.times[-limit] + window - now))


# An attempt in flight longer than this belongs to a process that died mid-login.
IN_FLIGHT_SECONDS = 60.0


class InProcessAttemptLog:
    """``AttemptLog`` in this process's memory: the default, for one server process.

    Thread-safe. Past ``max_keys`` the least recently failed keys go first; keys whose
    newest failure left the window are swept as time passes.
    """

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._events: OrderedDict[bytes, deque[float]] = OrderedDict()
        self._pending: dict[bytes, int] = {}  # attempts begun and not yet ended
        self._lock = threading.Lock()
        self._next_sweep = -math.inf
        self._longest = 0.0  # the longest window asked about: the sweep keeps that much

    def __len__(self) -> int:
        """Keys held (memory is proportional to it)."""
        with self._lock:
            return len(self._events) + len(self._pending)

    def begin(
        self,
        attempt: str,  # noqa: ARG002 (one process: a count per key is enough)
        keys: Sequence[bytes],
        now: float,
        window: float,
        keep: int,
    ) -> list[KeyState]:
        with self._lock:
            self._sweep(now, window)
            states = []
            for key in keys:
                pending = self._pending[key] = self._pending.get(key, 0) + 1
                times = self._live(key, now, window)
                states.append(KeyState(tuple(times or ())[-keep:], pending))
            return states

    def end(self, attempt: str, keys: Sequence[bytes]) -> None:  # noqa: ARG002
        with self._lock:
            for key in keys:
                left = self._pending.get(key, 0) - 1
                if left > 0:
                    self._pending[key] = left
                else:
                    self._pending.pop(key, None)

    def fail(self, keys: Sequence[bytes], now: float, window: float, keep: int) -> None:
        with self._lock:
            self._sweep(now, window)
            for key in keys:
                times = self._events.get(key)
                if times is None:
                    while len(self._events) >= self.max_keys:
                        self._events.popitem(last=False)  # least recently used
                    times = self._events[key] = deque(maxlen=keep)
                else:
                    self._events.move_to_end(key)
                times.append(now)

    def forget(self, key: bytes) -> None:
        with self._lock:
            self._events.pop(key, None)

    def _live(self, key: bytes, now: float, window: float) -> deque[float] | None:
        times = self._events.get(key)
        while times and times[0] <= now - window:
            times.popleft()
        if times is not None and not times:
            del self._events[key]
            return None
        return times

    def _sweep(self, now: float, window: float) -> None:
        """Drop keys whose newest failure left the window; at most once per tenth of a window."""
        self._longest = max(self._longest, window)
        if now < self._next_sweep:
            return
        self._next_sweep = now + max(self._longest / 10, 1.0)
        cutoff = now - self._longest
        stale = [k for k, times in self._events.items() if not times or times[-1] <= cutoff]
        for key in stale:
            del self._events[key]


class _Attempts:
    """This process's attempt ids per key tuple, so ``release`` ends one of its own."""

    def __init__(self) -> None:
        self._ids: dict[tuple[bytes, ...], list[str]] = {}
        self._lock = threading.Lock()

    def add(self, keys: tuple[bytes, ...]) -> str:
        attempt = secrets.token_hex(8)
        with self._lock:
            self._ids.setdefault(keys, []).append(attempt)
        return attempt

    def pop(self, keys: tuple[bytes, ...]) -> str | None:
        with self._lock:
            ids = self._ids.get(keys)
            if not ids:
                return None
            attempt = ids.pop()
            if not ids:
                del self._ids[keys]
            return attempt


class RateLimit:
    """A sliding-window limit over any text key (sign-ups, reset mails) on an ``AttemptLog``."""

    def __init__(
        self, kind: str, limit: int, window: timedelta, log: AttemptLog | None = None
    ) -> None:
        self._kind = kind
        self._limit = limit
        self._window = window.total_seconds()
        self._log = log if log is not None else InProcessAttemptLog()

    def take(self, value: str, now: datetime) -> int:
        """Count one event and return 0, or return the wait without counting it."""
        keys, moment = [digest(self._kind, value)], now.timestamp()
        attempt = secrets.token_hex(8)
        (state,) = self._log.begin(attempt, keys, moment, self._window, self._limit)
        try:
            wait = wait_for(state, self._limit, self._window, moment)
            if not wait:
                self._log.fail(keys, moment, self._window, self._limit)
            return wait
        finally:
            self._log.end(attempt, keys)


@attrs.frozen
class ThrottlePolicy:
    """How many failures a key may have inside a sliding window.

    Attributes:
        per_email: failures allowed for one e-mail in the window before the clients
            that have been failing are locked out of it.
        per_client: failures allowed from one client address in the window.
        window: the sliding window.
        max_keys: keys the in-process log keeps per counter before the least
            recently used go (a shared log expires keys with the window instead).
        per_email_all_clients: failures for one e-mail in the window after which
            every client is locked out of it, also the ones that had not been failing.
    """

    per_email: int = 5
    per_client: int = 20
    window: timedelta = timedelta(minutes=15)
    max_keys: int = MAX_KEYS
    per_email_all_clients: int = 50


class LoginThrottle:
    """Failed logins per e-mail and per client address, on an ``AttemptLog``.

    A locked e-mail does not lock its owner out (OWASP Authentication Cheat Sheet,
    "Account Lockout": a lockout that anyone can trigger is a denial of service):
    past ``per_email`` failures only the clients that have themselves failed in the
    window (or have an attempt in flight) are refused; a client with a clean record
    still gets its attempts, and one failure puts it among the refused. An attacker
    spread over many addresses gets one guess per address per window, and past
    ``per_email_all_clients`` failures the e-mail is locked for every client.

    The default log is this process's memory: with N server processes an attacker
    gets at most N times the budget. A shared log (Redis) gives all processes one
    budget (docs/operations.md).
    """

    def __init__(self, policy: ThrottlePolicy | None = None, log: AttemptLog | None = None) -> None:
        self.policy = policy or ThrottlePolicy()
        # Both counters share the in-process log: it holds as many keys as the two did.
        self.log = log if log is not None else InProcessAttemptLog(2 * self.policy.max_keys)
        self._window = self.policy.window.total_seconds()
        # One keep for both kinds of key: enough failures for the highest limit of either
        # (trimming a client's to the e-mail's limits would let it fail forever).
        policy = self.policy
        self._keep = max(policy.per_email, policy.per_email_all_clients, policy.per_client)
        self._attempts = _Attempts()

    def keys(self) -> int:
        """How many keys the in-process log holds (memory is proportional to it)."""
        return len(self.log) if isinstance(self.log, InProcessAttemptLog) else 0

    def reserve(self, email: str, client: str, now: datetime) -> int:
        """The wait, or 0 after counting the attempt as in flight until ``release``.

        Check and count are one step of the log: concurrent logins each hash for tens
        of milliseconds, and checking without counting let every request in flight
        through. A refused attempt is ended at once.
        """
        moment = now.timestamp()
        keys = self._keys(email, client)
        attempt = self._attempts.add(keys)
        try:
            email_state, client_state = self.log.begin(
                attempt, keys, moment, self._window, self._keep
            )
        except BaseException:
            self._attempts.pop(keys)  # never begun: nothing to end
            raise
        policy = self.policy
        wait = wait_for(client_state, policy.per_client, self._window, moment)
        failing = client_state.in_flight > 1 or bool(client_state.times)
        # A client that has been failing meets the e-mail's low threshold, any other
        # only the high one: the owner with the right password still gets in.
        threshold = policy.per_email if failing else policy.per_email_all_clients
        wait = max(wait, wait_for(email_state, threshold, self._window, moment))
        if wait:
            self.release(email, client)
        return wait

    def release(self, email: str, client: str) -> None:
        """End an attempt counted by ``reserve`` (after recording its outcome)."""
        keys = self._keys(email, client)
        attempt = self._attempts.pop(keys)
        if attempt is not None:
            self.log.end(attempt, keys)

    def record_failure(self, email: str, client: str, now: datetime) -> None:
        self.log.fail(self._keys(email, client), now.timestamp(), self._window, self._keep)

    def record_success(self, email: str) -> None:
        self.log.forget(digest("email", email))

    @staticmethod
    def _keys(email: str, client: str) -> tuple[bytes, bytes]:
        return digest("email", email), digest("client", client)
