"""In-memory adapters of every core port: for tests, embedding and examples.

They are honest implementations (the shared contract suites run against them
and against the real adapters), not mocks.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import secrets
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta

import attrs

from cropedly_core.api_keys import ApiKey
from cropedly_core.catalog import CatalogImage, Quota, check_quota
from cropedly_core.errors import EmailTaken, InvalidToken, NotFound, UserNotFound
from cropedly_core.images.jobs import Job
from cropedly_core.images.model import EnhanceOptions
from cropedly_core.images.pipeline import EnhancementPipeline
from cropedly_core.images.results import StoredImage
from cropedly_core.images.service import JobResult, run_job
from cropedly_core.ports import Clock
from cropedly_core.sign_in import Authorization, SignInRefused, VerifiedIdentity
from cropedly_core.tokens import TOKEN_LIFETIME, Claims, TokenGrant
from cropedly_core.users import User


class InMemoryUserRepository:
    def __init__(self) -> None:
        self._by_id: dict[str, User] = {}
        self._lock = threading.Lock()

    def add(self, user: User) -> None:
        with self._lock:
            if any(u.email == user.email for u in self._by_id.values()):
                raise EmailTaken("An account with this e-mail already exists.")
            if user.id in self._by_id:
                raise ValueError(f"duplicate user id {user.id}")
            self._by_id[user.id] = user

    def get(self, user_id: str) -> User | None:
        return self._by_id.get(user_id)

    def get_by_email(self, email: str) -> User | None:
        return next((u for u in self._by_id.values() if u.email == email), None)

    def update(self, user: User) -> None:
        with self._lock:
            if user.id not in self._by_id:
                raise UserNotFound("No such account.")
            if any(u.email == user.email and u.id != user.id for u in self._by_id.values()):
                raise EmailTaken("An account with this e-mail already exists.")
            self._by_id[user.id] = user

    def with_origin(self, origin: str) -> list[User]:
        return [u for u in self.list() if origin in u.origins]

    def list(self) -> list[User]:
        return sorted(self._by_id.values(), key=lambda u: (u.created_at, u.id))


class FastPasswordHasher:
    """Salted SHA-256: fast, for tests and examples only, never for production."""

    _PREFIX = "sha256$"

    def __init__(self, version: int = 1) -> None:
        self.version = version

    def hash(self, password: str) -> str:
        salt = secrets.token_hex(8)
        digest = hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()
        return f"{self._PREFIX}{self.version}${salt}${digest}"

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            _, _version, salt, digest = password_hash.split("$")
        except ValueError:
            return False
        actual = hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()
        return hmac.compare_digest(actual, digest)

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"{self._PREFIX}{self.version}$")


class InMemoryTokens:
    """Opaque random tokens; only their SHA-256 is kept, like any stored token."""

    def __init__(self) -> None:
        self._claims: dict[str, Claims] = {}

    def issue(self, user: User, now: datetime) -> TokenGrant:
        iat = now.replace(microsecond=0)
        claims = Claims(
            sub=user.id,
            name=user.name,
            authorities=tuple(user.authorities),
            iat=iat,
            exp=iat + TOKEN_LIFETIME,
            jti=secrets.token_urlsafe(16),
            token_version=user.token_version,
        )
        token = secrets.token_urlsafe(32)
        self._claims[_digest(token)] = claims
        return TokenGrant(token=token, expires_at=claims.exp, claims=claims)

    def verify(self, token: str, now: datetime) -> Claims:
        claims = self._claims.get(_digest(token))
        if claims is None:
            raise InvalidToken("The token is not valid.")
        if now >= claims.exp:
            raise InvalidToken("The token has expired.")
        return claims


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@attrs.define
class ManualClock:
    """A clock that moves only when told to."""

    current: datetime = attrs.field(factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class SeededIds:
    """Reproducible ids for tests: 128 bits from a seeded generator."""

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)  # noqa: S311 - test ids, not secrets

    def new_id(self) -> str:
        return f"{self._random.getrandbits(128):032x}"


class InMemoryBlobStore:
    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._written: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._blobs[key] = bytes(data)
            self._written[key] = datetime.now(UTC)

    def get(self, key: str) -> bytes:
        try:
            return self._blobs[key]
        except KeyError:
            raise NotFound(f"No blob {key!r}.") from None

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.get(key)[start : end + 1]

    def size(self, key: str) -> int:
        return len(self.get(key))

    def delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(key, None)
            self._written.pop(key, None)

    def delete_many(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.delete(key)

    def keys(self, prefix: str = "") -> Sequence[str]:
        return sorted(k for k in self._blobs if k.startswith(prefix))

    def keys_older_than(self, prefix: str, before: datetime) -> Sequence[str]:
        with self._lock:
            return sorted(
                k for k, at in self._written.items() if k.startswith(prefix) and at < before
            )

    def remove_unfinished(self, before: datetime) -> int:  # noqa: ARG002 - the port's signature
        return 0  # a dict assignment is atomic: nothing is ever half-written


class InMemoryResultRepository:
    def __init__(self) -> None:
        self._results: dict[str, StoredImage] = {}
        self._lock = threading.Lock()

    def add_many(self, results: Sequence[StoredImage]) -> None:
        with self._lock:
            if any(r.id in self._results or r.expires_at is None for r in results):
                raise ValueError("duplicate result id or missing expiry")
            self._results.update({r.id: r for r in results})

    def get(self, result_id: str) -> StoredImage | None:
        return self._results.get(result_id)

    def expired(self, now: datetime, limit: int) -> list[StoredImage]:
        due = [r for r in self._results.values() if r.expires_at and r.expires_at <= now]
        return sorted(due, key=lambda r: (r.expires_at, r.id))[:limit]

    def delete_many(self, result_ids: Sequence[str]) -> None:
        with self._lock:
            for result_id in result_ids:
                self._results.pop(result_id, None)


class InMemoryJobRepository:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            if job.id in self._jobs:
                raise ValueError("duplicate job id")
            self._jobs[job.id] = job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def update(self, job: Job) -> None:
        with self._lock:
            if job.id not in self._jobs:
                raise NotFound("No such job.")
            self._jobs[job.id] = job

    def expired(self, now: datetime, limit: int) -> list[Job]:
        due = [j for j in self._jobs.values() if j.expires_at <= now]
        return sorted(due, key=lambda j: (j.expires_at, j.id))[:limit]

    def delete_many(self, job_ids: Sequence[str]) -> None:
        with self._lock:
            for job_id in job_ids:
                self._jobs.pop(job_id, None)


class InlineWorkers:
    """Runs jobs on a thread of this process: no isolation, for tests and embedding."""

    def __init__(self, pipeline: EnhancementPipeline) -> None:
        self.pipeline = pipeline

    def reserve(self, count: int) -> AbstractContextManager[InlineWorkers]:  # noqa: ARG002
        """Any batch is admitted: there is no queue, each job gets its own thread."""
        return nullcontext(self)

    async def run(self, data: bytes, options: EnhanceOptions) -> JobResult:
        return await asyncio.to_thread(run_job, self.pipeline, data, options)


class InMemoryCatalogRepository:
    def __init__(self) -> None:
        self._images: dict[str, CatalogImage] = {}
        self._seq = 0
        self._lock = threading.Lock()

    def add_many(self, owner_id: str, images: Sequence[CatalogImage], quota: Quota) -> None:
        with self._lock:
            count, size = self.usage(owner_id)
            check_quota(count + len(images), size + sum(i.image.size for i in images), quota)
            if any(i.image.id in self._images or i.image.owner_id != owner_id for i in images):
                raise ValueError("duplicate id or foreign owner")
            for image in images:
                self._seq += 1
                self._images[image.image.id] = attrs.evolve(image, seq=self._seq)

    def get(self, image_id: str) -> CatalogImage | None:
        return self._images.get(image_id)

    def page(self, owner_id: str, limit: int, before_seq: int | None) -> list[CatalogImage]:
        mine = [
            i
            for i in self._images.values()
            if i.image.owner_id == owner_id and (before_seq is None or i.seq < before_seq)
        ]
        return sorted(mine, key=lambda i: i.seq, reverse=True)[:limit]

    def delete_many(self, owner_id: str, image_ids: Sequence[str]) -> list[CatalogImage]:
        with self._lock:
            return [
                self._images.pop(i)
                for i in image_ids
                if i in self._images and self._images[i].image.owner_id == owner_id
            ]

    def usage(self, owner_id: str) -> tuple[int, int]:
        mine = [i.image.size for i in self._images.values() if i.image.owner_id == owner_id]
        return len(mine), sum(mine)


class InMemoryUsageCounters:
    """Rate-limit and quota counters of one process (``RedisUsageCounters`` shares them).

    Each process counts alone: with N server processes an account gets up to N
    times its per-minute limit (docs/operations.md). Expired windows are swept
    at most once a minute, so memory follows the accounts active recently.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, str], tuple[int, datetime]] = {}
        self._lock = threading.Lock()
        self._next_sweep = datetime.min.replace(tzinfo=UTC)

    def add(self, key: str, window: str, amount: int, expires: datetime) -> int:
        now = self._clock.now()
        with self._lock:
            if now >= self._next_sweep:
                self._next_sweep = now + timedelta(minutes=1)
                for stale in [k for k, (_, end) in self._counts.items() if end <= now]:
                    del self._counts[stale]
            count, end = self._counts.get((key, window), (0, expires))
            if end <= now:
                count = 0
            count = max(0, count + amount)
            self._counts[(key, window)] = (count, max(end, expires))
            return count

    def get(self, key: str, window: str) -> int:
        with self._lock:
            count, end = self._counts.get((key, window), (0, self._clock.now()))
        return count if end > self._clock.now() else 0

    def __len__(self) -> int:
        return len(self._counts)


@attrs.frozen
class SentMail:
    to: str
    subject: str
    body: str
    html: str | None = None


class InMemoryMailer:
    """Keeps sent mail in ``outbox``."""

    def __init__(self) -> None:
        self.outbox: list[SentMail] = []

    def send(self, to: str, subject: str, body: str, html: str | None = None) -> None:
        self.outbox.append(SentMail(to, subject, body, html))


class InMemoryApiKeyRepository:
    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}
        self._lock = threading.Lock()

    def add(self, key: ApiKey) -> None:
        with self._lock:
            if key.id in self._keys or any(k.key_hash == key.key_hash for k in self._keys.values()):
                raise ValueError("duplicate API key id or hash")
            self._keys[key.id] = key

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return next((k for k in self._keys.values() if k.key_hash == key_hash), None)

    def list_for(self, owner_id: str) -> list[ApiKey]:
        mine = [k for k in self._keys.values() if k.owner_id == owner_id]
        return sorted(mine, key=lambda k: (k.created_at, k.id))

    def delete(self, owner_id: str, key_id: str) -> bool:
        with self._lock:
            key = self._keys.get(key_id)
            if key is None or key.owner_id != owner_id:
                return False
            del self._keys[key_id]
            return True

    def touch(self, key_id: str, when: datetime) -> None:
        with self._lock:
            key = self._keys.get(key_id)
            if key is not None:
                self._keys[key_id] = attrs.evolve(key, last_used_at=when)


class InMemoryIdentityProvider:
    """An OpenID provider in this process that approves ``identity`` at once.

    ``approve(url)`` stands for the browser's trip to the provider: it returns the
    code and state the provider would send back. Codes work once, and only with the
    nonce and PKCE verifier of the sign-in that asked for them, as at a real provider.
    """

    def __init__(self, identity: VerifiedIdentity) -> None:
        self.identity = identity
        self._pending: dict[str, tuple[str, str]] = {}  # state -> (nonce, verifier digest)
        self._codes: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def begin(self) -> Authorization:
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        with self._lock:
            self._pending[state] = (nonce, hashlib.sha256(verifier.encode()).hexdigest())
        return Authorization(f"memory://authorize?state={state}", state, nonce, verifier)

    def approve(self, url: str) -> tuple[str, str]:
        state = url.rsplit("state=", 1)[1]
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = self._pending.pop(state)
        return code, state

    def finish(self, code: str, nonce: str, verifier: str) -> VerifiedIdentity:
        with self._lock:
            asked = self._codes.pop(code, None)
        if asked is None:
            raise SignInRefused("The provider refused the code exchange (invalid_grant).")
        if asked[1] != hashlib.sha256(verifier.encode()).hexdigest():
            raise SignInRefused("The provider refused the code exchange (PKCE verifier).")
        if not hmac.compare_digest(asked[0], nonce):
            raise SignInRefused("The ID token was refused: nonce.")
        return self.identity
