"""Async enhance jobs: ``Prefer: respond-async`` on ``POST /images/v1``, and the job's status.

RFC 7240: a client that prefers an asynchronous answer gets ``202 Accepted`` with
``Preference-Applied: respond-async``, the job in the body and its address in
``Location``. Everything that can be refused without the pixels (plan, form,
options, counts, sizes, callback URL, a busy queue) is refused before the 202;
the rest ends in the job as the problem the synchronous call would have answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import attrs
import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from cropedly.http.auth import BEARER
from cropedly.http.problems import problem_body
from cropedly.http.views import SignedUrls, iso, result_view
from cropedly_core.errors import NotFound
from cropedly_core.images.jobs import Job, Jobs, JobStatus
from cropedly_core.images.model import EnhanceOptions
from cropedly_core.images.service import ImageService, JobRunner, Upload
from cropedly_core.usage import Usage
from cropedly_core.users import User
from cropedly_core.webhooks import WebhookSender, account_secret

log = logging.getLogger("cropedly.jobs")

JOBS_PATH = "/images/v1/jobs"
MAX_JOB_ID = 64


def prefers_async(request: Request[Any, Any, Any]) -> bool:
    """Whether a ``Prefer`` header (RFC 7240) asks for ``respond-async``."""
    for header in request.headers.getall("prefer", []):
        for preference in header.split(","):
            if preference.split(";", 1)[0].strip().lower() == "respond-async":
                return True
    return False


class JobResultView(msgspec.Struct, rename="camel"):
    """One result, exactly as the synchronous call lists it."""

    id: str
    url: str
    mime_type: str
    size: int
    width: int
    height: int
    original_name: str
    expires_at: str


class JobView(msgspec.Struct, rename="camel"):
    """An async job: its status, then its results or its problem."""

    id: str
    status: str
    created_at: str
    updated_at: str
    expires_at: str
    results: list[JobResultView] | None = None
    problem: dict[str, Any] | None = None
    callback_url: str | None = None
    webhook_secret: str | None = None


@attrs.frozen
class AsyncBatch:
    """A batch accepted for the background, with what its request already decided."""

    user: User
    uploads: Sequence[Upload]
    options: EnhanceOptions
    origin: str | None
    callback_url: str | None
    counted_at: datetime  # when its files were counted against the month


@attrs.define
class AsyncJobs:
    """Accepts async jobs and runs them on this process's event loop."""

    jobs: Jobs
    images: ImageService
    usage: Usage
    urls: SignedUrls
    webhooks: WebhookSender
    webhook_key: bytes
    _tasks: set[asyncio.Task[None]] = attrs.field(factory=set, init=False)

    def view(self, job: Job) -> JobView:
        results = None
        if job.status is JobStatus.SUCCEEDED:
            results = []
            for result_id in job.result_ids:
                enhanced = result_view(self.urls, self.images.result(result_id))
                results.append(JobResultView(**dataclasses.asdict(enhanced)))
        return JobView(
            id=job.id,
            status=job.status.value,
            created_at=iso(job.created_at),
            updated_at=iso(job.updated_at),
            expires_at=iso(job.expires_at),
            results=results,
            problem=None if job.problem is None else dict(job.problem),
            callback_url=job.callback_url,
            webhook_secret=(
                account_secret(self.webhook_key, job.owner_id) if job.callback_url else None
            ),
        )

    async def submit(self, batch: AsyncBatch) -> Response[Any]:
        """The 202 for an admitted batch; its work goes on after the answer."""
        if batch.callback_url is not None:
            await asyncio.to_thread(self.webhooks.check, batch.callback_url)
        places = self.images.admit(batch.user, batch.uploads, batch.origin)
        try:
            job = await asyncio.to_thread(self.jobs.submit, batch.user, batch.callback_url)
        except BaseException:
            places.__exit__(None, None, None)
            raise
        task = asyncio.create_task(self._run(job, batch, places))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Response(
            msgspec.to_builtins(self.view(job)),
            status_code=202,
            headers={
                "Location": f"{JOBS_PATH}/{job.id}",
                "Preference-Applied": "respond-async",
            },
        )

    async def _run(
        self, job: Job, batch: AsyncBatch, places: AbstractContextManager[JobRunner]
    ) -> None:
        async def work() -> list[str]:
            with places as runner:
                stored = await self.images.enhance(
                    batch.user, batch.uploads, batch.options, batch.origin, runner
                )
            return [s.id for s in stored]

        try:
            job = await self.jobs.run(job, work, problem_body)
        finally:
            if job.status is not JobStatus.SUCCEEDED:
                # As the synchronous call: refused files do not count against the month.
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(
                        self.usage.release_images,
                        batch.user,
                        len(batch.uploads),
                        batch.counted_at,
                    )
        log.info("job %s %s", job.id, job.status.value)
        if job.callback_url:
            body = msgspec.json.encode(self.view(job))
            secret = account_secret(self.webhook_key, job.owner_id)
            await self.webhooks.deliver(job.callback_url, secret, body)

    async def drain(self, seconds: float) -> None:
        """Let running jobs finish for up to ``seconds``; cancel the rest (recorded as failed)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)


@get(
    f"{JOBS_PATH}/{{job_id:str}}",
    tags=["images"],
    summary="Status and outcome of an async enhance job",
    description="The job `POST /images/v1` accepted with `Prefer: respond-async`; only "
    "its owner sees it. `status` is `queued`, `running`, `succeeded` (then `results` is the "
    "list the synchronous call returns) or `failed` (then `problem` is the problem it would "
    "have answered). Jobs expire with their results.",
    security=BEARER,
)
async def get_job(
    job_id: FromPath[str],
    *,
    user: NamedDependency[User],
    async_jobs: NamedDependency[AsyncJobs],
) -> JobView:
    if len(job_id) > MAX_JOB_ID:
        raise NotFound("No such job, or it has expired.")
    job = await asyncio.to_thread(async_jobs.jobs.get, user, job_id)
    return await asyncio.to_thread(async_jobs.view, job)


JOB_ROUTES = [get_job]
