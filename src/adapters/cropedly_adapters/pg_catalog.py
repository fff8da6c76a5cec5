"""``CatalogRepository`` on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg.types.json import Jsonb

from cropedly_adapters.pg_db import PostgresDatabase, Row
from cropedly_adapters.pg_results import IMAGE_COLUMNS, image_values, stored_image
from cropedly_core.catalog import CatalogImage, Quota, check_quota
from cropedly_core.images.reference import ColourStats

# pg_advisory_xact_lock(class, key) class of the per-owner quota lock.
_QUOTA_LOCK_CLASS = 0x63617461  # "cata"
_INSERT = (
    f"INSERT INTO catalog_images ({', '.join(IMAGE_COLUMNS)}, colour)"  # noqa: S608 - fixed names
    f" VALUES ({', '.join(['%s'] * (len(IMAGE_COLUMNS) + 1))})"
)


class PostgresCatalogRepository:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    def add_many(self, owner_id: str, images: Sequence[CatalogImage], quota: Quota) -> None:
        if any(i.image.owner_id != owner_id for i in images):
            raise ValueError("every image must belong to the owner")
        with self._database.transaction() as conn:
            # Read committed lets two uploads count the same rows; the owner's lock
            # (held to the commit) makes the second wait and count the first's images,
            # from any process or machine.
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_QUOTA_LOCK_CLASS, owner_id]
            )
            count, size = _usage(conn, owner_id)
            check_quota(count + len(images), size + sum(i.image.size for i in images), quota)
            if images:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        _INSERT,
                        [[*image_values(i.image), Jsonb(i.colour.as_list())] for i in images],
                    )

    def get(self, image_id: str) -> CatalogImage | None:
        with self._database.transaction() as conn:
            row = conn.execute("SELECT * FROM catalog_images WHERE id = %s", [image_id]).fetchone()
        return None if row is None else _entry(row)

    def page(self, owner_id: str, limit: int, before_seq: int | None) -> list[CatalogImage]:
        with self._database.transaction() as conn:
            if before_seq is None:
                rows = conn.execute(
                    "SELECT * FROM catalog_images WHERE owner_id = %s ORDER BY seq DESC LIMIT %s",
                    [owner_id, limit],
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM catalog_images WHERE owner_id = %s AND seq < %s"
                    " ORDER BY seq DESC LIMIT %s",
                    [owner_id, before_seq, limit],
                ).fetchall()
        return [_entry(r) for r in rows]

    def delete_many(self, owner_id: str, image_ids: Sequence[str]) -> list[CatalogImage]:
        if not image_ids:
            return []
        with self._database.transaction() as conn:
            rows = conn.execute(
                "DELETE FROM catalog_images WHERE owner_id = %s AND id = ANY(%s) RETURNING *",
                [owner_id, list(image_ids)],
            ).fetchall()
        return [_entry(r) for r in sorted(rows, key=lambda r: int(r["seq"]))]

    def usage(self, owner_id: str) -> tuple[int, int]:
        with self._database.transaction() as conn:
            return _usage(conn, owner_id)


def _usage(conn: psycopg.Connection[Row], owner_id: str) -> tuple[int, int]:
    row = conn.execute(
        "SELECT COUNT(*) AS count, COALESCE(SUM(size), 0) AS size"
        " FROM catalog_images WHERE owner_id = %s",
        [owner_id],
    ).fetchone()
    assert row is not None  # an aggregate always gives one row
    return int(row["count"]), int(row["size"])


def _entry(row: Row) -> CatalogImage:
    return CatalogImage(
        image=stored_image(row),
        colour=ColourStats.from_list(list(row["colour"])),
        seq=int(row["seq"]),
    )
