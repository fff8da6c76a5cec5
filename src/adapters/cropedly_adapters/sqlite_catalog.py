"""``CatalogRepository`` on SQLite."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cropedly_adapters.sqlite_db import Database
from cropedly_adapters.sqlite_results import image_row, stored_image
from cropedly_core.catalog import CatalogImage, Quota, check_quota
from cropedly_core.images.reference import ColourStats


class SqliteCatalogRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    def add_many(self, owner_id: str, images: Sequence[CatalogImage], quota: Quota) -> None:
        if any(i.image.owner_id != owner_id for i in images):
            raise ValueError("every image must belong to the owner")
        # The quota is checked inside the write transaction, so two concurrent
        # uploads cannot both pass it.
        with self._database.transaction() as db:
            count, size = _usage(db, owner_id)
            check_quota(count + len(images), size + sum(i.image.size for i in images), quota)
            db.table("catalog_images").insert_all(
                {**image_row(i.image), "colour": json.dumps(i.colour.as_list())} for i in images
            )

    def get(self, image_id: str) -> CatalogImage | None:
        with self._database.locked() as db:
            rows = db.execute_returning_dicts(
                "SELECT * FROM catalog_images WHERE id = ?", [image_id]
            )
        return _entry(rows[0]) if rows else None

    def page(self, owner_id: str, limit: int, before_seq: int | None) -> list[CatalogImage]:
        with self._database.locked() as db:
            rows = db.execute_returning_dicts(
                "SELECT * FROM catalog_images WHERE owner_id = ? AND seq < ?"
                " ORDER BY seq DESC LIMIT ?",
                [owner_id, before_seq if before_seq is not None else 2**62, limit],
            )
        return [_entry(r) for r in rows]

    def delete_many(self, owner_id: str, image_ids: Sequence[str]) -> list[CatalogImage]:
        marks = ",".join("?" * len(image_ids))
        with self._database.transaction() as db:
            rows = db.execute_returning_dicts(
                f"SELECT * FROM catalog_images WHERE owner_id = ? AND id IN ({marks})",  # noqa: S608 - only placeholders
                [owner_id, *image_ids],
            )
            db.execute(
                f"DELETE FROM catalog_images WHERE owner_id = ? AND id IN ({marks})",  # noqa: S608
                [owner_id, *image_ids],
            )
        return [_entry(r) for r in rows]

    def usage(self, owner_id: str) -> tuple[int, int]:
        with self._database.locked() as db:
            return _usage(db, owner_id)


def _usage(db: Any, owner_id: str) -> tuple[int, int]:
    count, size = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM catalog_images WHERE owner_id = ?",
        [owner_id],
    ).fetchone()
    return int(count), int(size)


def _entry(row: dict[str, Any]) -> CatalogImage:
    return CatalogImage(
        image=stored_image(row),
        colour=ColourStats.from_list(json.loads(row["colour"])),
        seq=int(row["seq"]),
    )
