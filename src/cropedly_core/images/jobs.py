"""Async enhance jobs: a batch accepted now, run in the background, asked about later.

The job keeps what the synchronous call would have answered: the ids of the stored
results, or the problem (an opaque JSON object that the edge rendered from the
domain error, so an async failure reads exactly like a sync one). Jobs expire like
results: a finished job is gone ``ttl`` after it finished.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

import attrs

from cropedly_core.errors import NotFound
from cropedly_core.ports import Clock, IdGenerator
from cropedly_core.users import User

log = logging.getLogger("cropedly.jobs")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@attrs.frozen
class Job:
    """One async enhance request.

    Attributes:
        id: the job id (in ``/images/v1/jobs/{id}``).
        owner_id: the account that submitted it; nobody else sees it.
        status: queued, running, succeeded or failed.
        created_at: when it was accepted.
        updated_at: the last change of status.
        expires_at: when it is forgotten (and its results with it).
        result_ids: the stored results, in upload order, once succeeded.
        problem: the problem body the synchronous call would have answered, once failed.
        callback_url: where the signed completion webhook goes, if anywhere.
    """

    id: str
    owner_id: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    result_ids: tuple[str, ...] = ()
    problem: Mapping[str, Any] | None = None
    callback_url: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in {JobStatus.SUCCEEDED, JobStatus.FAILED}


class JobRepository(Protocol):
    """Where jobs are kept (shared by every API process of a deployment)."""

    def add(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def update(self, job: Job) -> None:
        """Replace the stored job of the same id."""
        ...

    def expired(self, now: datetime, limit: int) -> list[Job]: ...

    def delete_many(self, job_ids: Sequence[str]) -> None: ...


@attrs.define
class Jobs:
    """Submit, run and look up async jobs."""

    repository: JobRepository
    ids: IdGenerator
    clock: Clock
    ttl: timedelta = timedelta(hours=24)

    def _now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def submit(self, user: User, callback_url: str | None = None) -> Job:
        now = self._now()
        job = Job(
            id=self.ids.new_id(),
            owner_id=user.id,
            status=JobStatus.QUEUED,
            created_at=now,
            updated_at=now,
            expires_at=now + self.ttl,
            callback_url=callback_url,
        )
        self.repository.add(job)
        return job

    def get(self, user: User, job_id: str) -> Job:
        """The caller's own job; another account's, an unknown or an expired one: NotFound."""
        job = self.repository.get(job_id)
        if job is None or job.owner_id != user.id or job.expires_at <= self.clock.now():
            raise NotFound("No such job, or it has expired.")
        return job

    def _set(self, job: Job, **changes: Any) -> Job:
        now = self._now()
        updated = attrs.evolve(job, updated_at=now, **changes)
        if updated.finished:  # kept as long as its results: ttl from the end
            updated = attrs.evolve(updated, expires_at=now + self.ttl)
        self.repository.update(updated)
        return updated

    async def run(
        self,
        job: Job,
        work: Callable[[], Awaitable[Sequence[str]]],
        problem_of: Callable[[BaseException], Mapping[str, Any]],
    ) -> Job:
        """Run ``work`` (which returns the stored result ids) and record how it ended.

        ``problem_of`` turns what ``work`` raised into the problem body the
        synchronous call would have answered. Cancellation (shutdown) is recorded as
        a failure too, then re-raised.
        """
        # The repository may be a database: its calls run off the event loop.
        job = await asyncio.to_thread(self._set, job, status=JobStatus.RUNNING)
        try:
            result_ids = await work()
        except BaseException as exc:
            failed = partial(self._set, status=JobStatus.FAILED, problem=dict(problem_of(exc)))
            # Shielded: a cancelled job (shutdown) is still recorded as failed.
            job = await asyncio.shield(asyncio.to_thread(failed, job))
            if not isinstance(exc, Exception):
                raise
            return job
        done = partial(self._set, status=JobStatus.SUCCEEDED, result_ids=tuple(result_ids))
        return await asyncio.to_thread(done, job)

    def purge_expired(self, batch: int = 500) -> int:
        """Forget expired jobs (their results expire on their own); returns how many went."""
        total = 0
        while True:
            expired = self.repository.expired(self.clock.now(), batch)
            if not expired:
                return total
            self.repository.delete_many([j.id for j in expired])
            total += len(expired)
