"""Cleaning up after a crash: blobs no record points to, writes that never finished.

Stored images are written blobs first, record second (``store_all``), and
deleted record first, blobs second (the purge, catalog deletes). A process
killed between the two steps therefore leaves bytes without a record, never a
record without bytes. This sweep removes exactly those leftovers, and only when
they are older than a horizon: a younger blob may belong to a request that
another process or machine is storing right now (its record follows within
milliseconds), so it is left alone. Keys the sweep does not recognise (another
area, another naming) are never touched.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from cropedly_core.catalog import CatalogRepository
from cropedly_core.images.results import ResultRepository, StoredImage
from cropedly_core.ports import BlobStore

log = logging.getLogger("cropedly.recovery")


class _ById(Protocol):
    def get(self, image_id: str) -> object | None: ...


@attrs.frozen
class SweepReport:
    """What a sweep removed: unfinished writes, and the keys of blobs without a record."""

    unfinished: int
    orphans: tuple[str, ...]


def _image_id(key: str) -> tuple[str, str] | None:
    """``(area, id)`` of a key ``<area>/<owner>/<id>.<extension>``, else None."""
    parts = key.split("/")
    if len(parts) != 3 or not parts[2] or parts[2].startswith("."):
        return None
    return parts[0], parts[2].split(".", 1)[0]


def _recorded_key(found: object | None) -> str | None:
    image = getattr(found, "image", found)  # a CatalogImage wraps its StoredImage
    return image.blob_key if isinstance(image, StoredImage) else None


def sweep_orphans(
    blobs: BlobStore,
    results: ResultRepository,
    catalog: CatalogRepository,
    now: datetime,
    horizon: timedelta,
) -> SweepReport:
    """Remove unfinished writes and record-less result and catalog blobs older than ``horizon``."""
    if horizon <= timedelta(0):
        raise ValueError("the sweep needs a positive horizon")
    before = now - horizon
    unfinished = blobs.remove_unfinished(before)
    records: dict[str, _ById] = {"results": results, "catalog": catalog}
    orphans: list[str] = []
    for key in blobs.keys_older_than("", before):
        parsed = _image_id(key)
        if parsed is None or parsed[0] not in records:
            continue
        area, image_id = parsed
        if _recorded_key(records[area].get(image_id)) != key:
            orphans.append(key)
    blobs.delete_many(orphans)
    if unfinished or orphans:
        log.warning(
            "removed %d unfinished write(s) and %d blob(s) without a record, "
            "left by a crash before %s",
            unfinished,
            len(orphans),
            before.isoformat(timespec="seconds"),
        )
    return SweepReport(unfinished, tuple(orphans))
