"""``JobRepository`` on SQLite."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cropedly_adapters.sqlite_db import Database
from cropedly_core.errors import NotFound
from cropedly_core.images.jobs import Job, JobStatus


def _row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "owner_id": job.owner_id,
        "status": job.status.value,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "expires_at": job.expires_at.isoformat(),
        "result_ids": json.dumps(list(job.result_ids)),
        "problem": None if job.problem is None else json.dumps(job.problem),
        "callback_url": job.callback_url,
    }


def _job(row: dict[str, Any]) -> Job:
    return Job(
        id=row["id"],
        owner_id=row["owner_id"],
        status=JobStatus(row["status"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        result_ids=tuple(json.loads(row["result_ids"])),
        problem=None if row["problem"] is None else json.loads(row["problem"]),
        callback_url=row["callback_url"],
    )


class SqliteJobRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    def add(self, job: Job) -> None:
        with self._database.transaction() as db:
            db.table("jobs").insert(_row(job))

    def get(self, job_id: str) -> Job | None:
        with self._database.locked() as db:
            rows = db.execute_returning_dicts("SELECT * FROM jobs WHERE id = ?", [job_id])
        return _job(rows[0]) if rows else None

    def update(self, job: Job) -> None:
        row = _row(job)
        names = [name for name in row if name != "id"]
        with self._database.transaction() as db:
            cursor = db.execute(
                f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",  # noqa: S608 - our column names
                [*(row[n] for n in names), job.id],
            )
            if cursor.rowcount == 0:
                raise NotFound("No such job.")

    def expired(self, now: datetime, limit: int) -> list[Job]:
        # ISO 8601 strings in UTC sort as the times they stand for.
        with self._database.locked() as db:
            rows = db.execute_returning_dicts(
                "SELECT * FROM jobs WHERE expires_at <= ? ORDER BY expires_at, id LIMIT ?",
                [now.isoformat(), limit],
            )
        return [_job(r) for r in rows]

    def delete_many(self, job_ids: Sequence[str]) -> None:
        with self._database.transaction() as db:
            db.conn.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in job_ids])
