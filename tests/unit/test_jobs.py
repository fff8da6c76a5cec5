"""The async jobs use case: owner only, expiry from the end, every ending recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from cropedly_adapters.memory import InMemoryJobRepository, ManualClock, SeededIds
from cropedly_core.errors import InvalidInput, NotFound
from cropedly_core.images.jobs import Jobs, JobStatus
from cropedly_core.users import Plan, User

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def user(user_id: str) -> User:
    return User(id=user_id, email=f"{user_id}@example.com", name=user_id, plan=Plan.PRO,
                password_hash=None, created_at=T0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def jobs(clock: ManualClock) -> Jobs:
    return Jobs(InMemoryJobRepository(), SeededIds(), clock, ttl=timedelta(hours=2))


def problem_of(exc: BaseException) -> dict[str, object]:
    return {"type": type(exc).__name__, "detail": str(exc)}


def test_only_the_owner_sees_a_job(jobs: Jobs) -> None:
    job = jobs.submit(user("a"), "https://hooks.example/x")
    assert (JobStatus.QUEUED, "https://hooks.example/x") == (job.status, job.callback_url)
    assert job == jobs.get(user("a"), job.id)
    with pytest.raises(NotFound):
        jobs.get(user("b"), job.id)
    with pytest.raises(NotFound):
        jobs.get(user("a"), "nope")


def test_a_succeeded_job_keeps_its_results_and_expires_ttl_after_it_ended(
    jobs: Jobs, clock: ManualClock
) -> None:
    job = jobs.submit(user("a"))
    clock.advance(timedelta(hours=1))

    async def work() -> list[str]:
        assert JobStatus.RUNNING == jobs.get(user("a"), job.id).status
        return ["r1", "r2"]

    done = asyncio.run(jobs.run(job, work, problem_of))
    assert (JobStatus.SUCCEEDED, ("r1", "r2")) == (done.status, done.result_ids)
    assert T0 + timedelta(hours=3) == done.expires_at
    clock.advance(timedelta(hours=2))
    with pytest.raises(NotFound):
        jobs.get(user("a"), job.id)
    assert 1 == jobs.purge_expired()


def test_a_failure_is_recorded_as_its_problem(jobs: Jobs) -> None:
    job = jobs.submit(user("a"))

    async def work() -> list[str]:
        raise InvalidInput("bad", field="upscale")

    failed = asyncio.run(jobs.run(job, work, problem_of))
    assert JobStatus.FAILED == failed.status
    assert {"type": "InvalidInput", "detail": "bad"} == failed.problem
    assert failed == jobs.get(user("a"), job.id)


def test_a_cancelled_job_is_recorded_as_failed_and_the_cancel_goes_on(jobs: Jobs) -> None:
    job = jobs.submit(user("a"))

    async def work() -> list[str]:
        await asyncio.sleep(60)
        return []

    async def scenario() -> None:
        task = asyncio.create_task(jobs.run(job, work, problem_of))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert JobStatus.FAILED == jobs.get(user("a"), job.id).status
