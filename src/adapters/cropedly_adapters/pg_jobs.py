"""``JobRepository`` on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from cropedly_adapters.pg_db import PostgresDatabase, Row, utc
from cropedly_core.errors import NotFound
from cropedly_core.images.jobs import Job, JobStatus

# Every column but ``id``, in the order of the INSERT and UPDATE below.
_COLUMNS = (
    "owner_id", "status", "created_at", "updated_at", "expires_at", "result_ids", "problem",
    "callback_url",
)  # fmt: skip
_INSERT = (
    f"INSERT INTO jobs (id, {', '.join(_COLUMNS)})"  # noqa: S608 - fixed names
    f" VALUES (%s, {', '.join(['%s'] * len(_COLUMNS))})"
)
_UPDATE = f"UPDATE jobs SET {', '.join(f'{c} = %s' for c in _COLUMNS)} WHERE id = %s"  # noqa: S608


def _values(job: Job) -> list[Any]:
    return [
        job.owner_id,
        job.status.value,
        job.created_at,
        job.updated_at,
        job.expires_at,
        Jsonb(list(job.result_ids)),
        None if job.problem is None else Jsonb(dict(job.problem)),
        job.callback_url,
    ]


def _job(row: Row) -> Job:
    return Job(
        id=row["id"],
        owner_id=row["owner_id"],
        status=JobStatus(row["status"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        expires_at=utc(row["expires_at"]),
        result_ids=tuple(row["result_ids"]),
        problem=row["problem"],
        callback_url=row["callback_url"],
    )


class PostgresJobRepository:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    def add(self, job: Job) -> None:
        with self._database.transaction() as conn:
            conn.execute(_INSERT, [job.id, *_values(job)])

    def get(self, job_id: str) -> Job | None:
        with self._database.transaction() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = %s", [job_id]).fetchone()
        return None if row is None else _job(row)

    def update(self, job: Job) -> None:
        with self._database.transaction() as conn:
            if conn.execute(_UPDATE, [*_values(job), job.id]).rowcount == 0:
                raise NotFound("No such job.")

    def expired(self, now: datetime, limit: int) -> list[Job]:
        with self._database.transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE expires_at <= %s ORDER BY expires_at, id LIMIT %s",
                [now, limit],
            ).fetchall()
        return [_job(r) for r in rows]

    def delete_many(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            with self._database.transaction() as conn:
                conn.execute("DELETE FROM jobs WHERE id = ANY(%s)", [list(job_ids)])
