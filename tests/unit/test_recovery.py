"""The crash sweep removes only leftovers a crash can make, and only old ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cropedly_adapters.memory import (
    InMemoryBlobStore,
    InMemoryCatalogRepository,
    InMemoryResultRepository,
)
from cropedly_core.catalog import CatalogImage, Quota
from cropedly_core.images.reference import ColourStats
from cropedly_core.images.results import StoredImage
from cropedly_core.recovery import sweep_orphans

HOUR = timedelta(hours=1)


def image(area: str, image_id: str, expires: bool = True) -> StoredImage:
    now = datetime.now(UTC).replace(microsecond=0)
    return StoredImage(
        id=image_id,
        owner_id="owner",
        blob_key=f"{area}/owner/{image_id}.png",
        mime_type="image/png",
        size=3,
        width=1,
        height=1,
        original_name="a.png",
        etag="e",
        created_at=now,
        expires_at=now + HOUR if expires else None,
    )


@pytest.fixture
def stores() -> tuple[InMemoryBlobStore, InMemoryResultRepository, InMemoryCatalogRepository]:
    blobs, results, catalog = (
        InMemoryBlobStore(),
        InMemoryResultRepository(),
        InMemoryCatalogRepository(),
    )
    live_result, live_reference = image("results", "live"), image("catalog", "ref", expires=False)
    results.add_many([live_result])
    catalog.add_many(
        "owner", [CatalogImage(live_reference, ColourStats((0.0,) * 3, (1.0,) * 3))], Quota()
    )
    for key in (
        live_result.blob_key,
        live_reference.blob_key,
        "results/owner/crashed.png",  # written, then the process died before its record
        "catalog/owner/crashed.jpg",
        "exports/owner/unknown.png",  # not an area the sweep knows: never touched
        "results/loose-file",
    ):
        blobs.put(key, b"abc")
    return blobs, results, catalog


def test_old_blobs_without_records_go_and_everything_else_stays(
    stores: tuple[InMemoryBlobStore, InMemoryResultRepository, InMemoryCatalogRepository],
) -> None:
    blobs, results, catalog = stores
    report = sweep_orphans(blobs, results, catalog, datetime.now(UTC) + 2 * HOUR, HOUR)
    assert ("catalog/owner/crashed.jpg", "results/owner/crashed.png") == tuple(
        sorted(report.orphans)
    )
    assert [
        "catalog/owner/ref.png",
        "exports/owner/unknown.png",
        "results/loose-file",
        "results/owner/live.png",
    ] == list(blobs.keys())


def test_blobs_younger_than_the_horizon_stay(
    stores: tuple[InMemoryBlobStore, InMemoryResultRepository, InMemoryCatalogRepository],
) -> None:
    """Another process may be storing them right now: their records are on the way."""
    blobs, results, catalog = stores
    report = sweep_orphans(blobs, results, catalog, datetime.now(UTC), HOUR)
    assert (0, ()) == (report.unfinished, report.orphans)
    assert 6 == len(blobs.keys())


def test_a_horizon_must_be_positive(
    stores: tuple[InMemoryBlobStore, InMemoryResultRepository, InMemoryCatalogRepository],
) -> None:
    """Zero would sweep the blob of a request being stored this very moment."""
    with pytest.raises(ValueError, match="positive"):
        sweep_orphans(*stores, datetime.now(UTC), timedelta(0))
