"""The ``JobRepository`` contract, run against the in-memory, SQLite and PostgreSQL adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from cropedly_adapters.memory import InMemoryJobRepository
from cropedly_adapters.pg_jobs import PostgresJobRepository
from cropedly_adapters.sqlite_jobs import SqliteJobRepository
from cropedly_core.errors import NotFound
from cropedly_core.images.jobs import Job, JobRepository, JobStatus
from repo_databases import KINDS, RepositoryDatabases

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def job(n: int, expires_in: timedelta = 24 * HOUR) -> Job:
    return Job(
        id=f"{n:032x}",
        owner_id="u1",
        status=JobStatus.QUEUED,
        created_at=T0,
        updated_at=T0,
        expires_at=T0 + expires_in,
        callback_url=f"https://hooks.example/{n}?é=1" if n % 2 else None,
    )


@pytest.fixture(params=KINDS)
def make_repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], JobRepository]]:
    with RepositoryDatabases(request, tmp_path_factory) as databases:

        def make() -> JobRepository:
            if request.param == "memory":
                return InMemoryJobRepository()
            if request.param == "sqlite":
                return SqliteJobRepository(databases.sqlite())
            return PostgresJobRepository(databases.postgres())

        yield make


@pytest.fixture
def repo(make_repo: Callable[[], JobRepository]) -> JobRepository:
    return make_repo()


def test_a_job_reads_back_as_stored(repo: JobRepository) -> None:
    for n in (1, 2):
        repo.add(job(n))
    assert job(1) == repo.get(job(1).id)
    assert job(2) == repo.get(job(2).id)
    assert repo.get("nope") is None


def test_an_update_replaces_every_field(repo: JobRepository) -> None:
    repo.add(job(1))
    done = attrs.evolve(
        job(1),
        status=JobStatus.FAILED,
        updated_at=T0 + HOUR,
        expires_at=T0 + 25 * HOUR,
        result_ids=("a", "b"),
        problem={"type": "https://cropedly.com/problems/images-rejected", "status": 422,
                 "errors": [{"file": "x.png", "detail": "Broken ü"}]},
    )
    repo.update(done)
    assert done == repo.get(done.id)


def test_updating_an_unknown_job_is_not_found(repo: JobRepository) -> None:
    with pytest.raises(NotFound):
        repo.update(job(9))


def test_a_duplicate_id_is_refused(repo: JobRepository) -> None:
    repo.add(job(1))
    with pytest.raises(Exception):  # noqa: B017 - each store has its own error
        repo.add(job(1))


def test_expired_jobs_come_oldest_first_and_go(repo: JobRepository) -> None:
    for n, hours in ((1, 3), (2, 1), (3, 2), (4, 48)):
        repo.add(job(n, hours * HOUR))
    due = repo.expired(T0 + 3 * HOUR, 2)
    assert [job(2).id, job(3).id] == [j.id for j in due]
    repo.delete_many([j.id for j in due])
    assert [job(1).id] == [j.id for j in repo.expired(T0 + 3 * HOUR, 10)]
    assert repo.get(job(4).id) is not None
