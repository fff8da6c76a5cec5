"""Rate-limit, quota and throttle state in Redis, shared by every process and machine.

Each operation is one Lua script, which Redis runs atomically: two processes that
add to the same counter at the same instant both see the other's amount, so a
limit holds across ``cropedly serve --workers N`` and across machines.

Time is the caller's clock (the core's ``Clock``), not Redis's: a window's end is
stored beside its value and compared with the ``now`` the caller passes, so the
adapter behaves exactly like the in-memory one under a test's manual clock. Redis's
own expiry (the same length from now, plus a margin) only frees memory.

An unreachable Redis raises the core's ``LimitsUnavailable`` (503 with
``Retry-After`` at the HTTP edge): limits fail closed, never open and never as 500.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import redis
from redis.commands.core import Script

from cropedly_core.errors import LimitsUnavailable
from cropedly_core.throttle import IN_FLIGHT_SECONDS, KeyState

PREFIX = "cropedly:"
# Seconds a client is told to wait when Redis cannot be reached.
RETRY_AFTER = 5
# Redis keeps a key this long past its logical end: clocks of machines differ a little.
_GRACE_MS = 60_000


# KEYS[1]: the counter (a hash: v = value, e = end in ms of the caller's clock).
# ARGV: amount, end (ms), now (ms), grace (ms). Returns the new value, never below 0.
_ADD = """
local e = tonumber(redis.call('HGET', KEYS[1], 'e') or '0')
local v = 0
if e > tonumber(ARGV[3]) then
  v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
else
  e = 0
end
v = math.max(0, v + tonumber(ARGV[1]))
e = math.max(e, tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'v', v, 'e', e)
redis.call('PEXPIRE', KEYS[1], e - tonumber(ARGV[3]) + tonumber(ARGV[4]))
return v
"""

# KEYS[1]: the counter. ARGV: now (ms). Returns the value, 0 once its end has passed.
_GET = """
local e = tonumber(redis.call('HGET', KEYS[1], 'e') or '0')
if e > tonumber(ARGV[1]) then
  return tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
end
return 0
"""


# KEYS: per throttle key, its failures (a sorted set scored by time) then its attempts
# in flight (a sorted set of attempt ids scored by their start).
# ARGV: attempt id, now, failures cutoff, in-flight cutoff, keep, failures TTL (ms),
# in-flight TTL (ms). Times are sent as exact decimal strings: Lua would print its
# numbers with 14 digits. Returns per key: attempts in flight, then [member, score...].
_BEGIN = """
local out = {}
for i = 1, #KEYS, 2 do
  local failures, flight = KEYS[i], KEYS[i + 1]
  redis.call('ZREMRANGEBYSCORE', failures, '-inf', ARGV[3])
  redis.call('ZREMRANGEBYSCORE', flight, '-inf', ARGV[4])
  redis.call('ZADD', flight, ARGV[2], ARGV[1])
  redis.call('PEXPIRE', flight, ARGV[7])
  out[#out + 1] = redis.call('ZCARD', flight)
  out[#out + 1] = redis.call('ZRANGE', failures, -tonumber(ARGV[5]), -1, 'WITHSCORES')
end
return out
"""

# KEYS: failure sets. ARGV: now, a member unique to this call, keep, TTL (ms).
_FAIL = """
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[3]) + 1))
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
end
return 0
"""


def redact(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user + ':' if user else ''}***@{host}"


def connect(url: str, timeout: float = 2.0) -> redis.Redis:
    """A client with a connection pool; short timeouts so a dead Redis answers 503 fast."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        retry_on_timeout=False,
    )


@contextmanager
def _unavailable_as_domain_error() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise LimitsUnavailable(RETRY_AFTER) from exc


def _ms(moment: datetime | float) -> int:
    seconds = moment.timestamp() if isinstance(moment, datetime) else moment
    return math.floor(seconds * 1000)


class _Scripts:
    """Scripts registered once per client; redis-py sends EVALSHA and reloads on NOSCRIPT."""

    def __init__(self, client: redis.Redis, sources: dict[str, str]) -> None:
        self._scripts: dict[str, Script] = {
            name: client.register_script(source) for name, source in sources.items()
        }

    def run(self, name: str, keys: Sequence[str | bytes], args: Sequence[int | str]) -> Any:
        with _unavailable_as_domain_error():
            return self._scripts[name](keys=list(keys), args=list(args))


class RedisUsageCounters:
    """``UsageCounters`` in Redis: one hash per key and window, updated by a script."""

    def __init__(
        self, client: redis.Redis, clock: Callable[[], datetime], prefix: str = PREFIX
    ) -> None:
        self._now = clock
        self._prefix = f"{prefix}usage:"
        self._scripts = _Scripts(client, {"add": _ADD, "get": _GET})

    def _key(self, key: str, window: str) -> str:
        # The window goes first and the key last: a key may hold any character.
        return f"{self._prefix}{len(window)}:{window}:{key}"

    def add(self, key: str, window: str, amount: int, expires: datetime) -> int:
        now = _ms(self._now())
        value = self._scripts.run(
            "add", [self._key(key, window)], [amount, _ms(expires), now, _GRACE_MS]
        )
        return int(value)

    def get(self, key: str, window: str) -> int:
        value = self._scripts.run("get", [self._key(key, window)], [_ms(self._now())])
        return int(value)


class RedisAttemptLog:
    """``AttemptLog`` in Redis: every process and machine on one Redis shares the throttles.

    Per key, failures are a sorted set of times and attempts in flight a sorted set
    of attempt ids; ``begin`` trims, counts and reads all keys of an attempt in one
    script. Memory: at most ``keep`` times per key, each key gone one window after
    its last failure (Redis's own TTL). Keys of one attempt must live on one server:
    use a single Redis (with replicas or Sentinel), not Redis Cluster.
    """

    def __init__(self, client: redis.Redis, prefix: str = PREFIX) -> None:
        self._client = client
        self._failures = f"{prefix}throttle:f:".encode()
        self._flight = f"{prefix}throttle:p:".encode()
        self._scripts = _Scripts(client, {"begin": _BEGIN, "fail": _FAIL})

    def begin(
        self, attempt: str, keys: Sequence[bytes], now: float, window: float, keep: int
    ) -> list[KeyState]:
        redis_keys: list[bytes] = []
        for key in keys:
            redis_keys += [self._failures + key, self._flight + key]
        args: list[int | str] = [
            attempt,
            repr(now),
            repr(now - window),
            repr(now - IN_FLIGHT_SECONDS),
            keep,
            math.ceil(window * 1000) + _GRACE_MS,
            math.ceil(IN_FLIGHT_SECONDS * 1000) + _GRACE_MS,
        ]
        reply = self._scripts.run("begin", redis_keys, args)
        states = []
        for in_flight, flat in zip(reply[::2], reply[1::2], strict=True):
            times = tuple(float(score) for score in flat[1::2])
            states.append(KeyState(times=times, in_flight=int(in_flight)))
        return states

    def end(self, attempt: str, keys: Sequence[bytes]) -> None:
        with _unavailable_as_domain_error():
            pipe = self._client.pipeline(transaction=True)
            for key in keys:
                pipe.zrem(self._flight + key, attempt)
            pipe.execute()

    def fail(self, keys: Sequence[bytes], now: float, window: float, keep: int) -> None:
        member = f"{now!r}:{secrets.token_hex(6)}"
        ttl = math.ceil(window * 1000) + _GRACE_MS
        self._scripts.run(
            "fail", [self._failures + k for k in keys], [repr(now), member, keep, ttl]
        )

    def forget(self, key: bytes) -> None:
        with _unavailable_as_domain_error():
            self._client.delete(self._failures + key)
