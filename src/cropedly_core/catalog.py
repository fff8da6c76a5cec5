"""The enterprise reference-image catalog."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Sequence
from typing import Protocol

import attrs

from cropedly_core.accounts import require_plan
from cropedly_core.errors import InvalidInput, NotFound, QuotaExceeded
from cropedly_core.images.model import (
    Adjust,
    EnhanceOptions,
    ImageLimits,
    OutputFormat,
    Restore,
)
from cropedly_core.images.reference import ColourStats
from cropedly_core.images.results import StoredImage
from cropedly_core.images.service import (
    ImageWorkers,
    Upload,
    check_batch,
    new_stored_image,
    process_batch,
    store_all,
)
from cropedly_core.ports import BlobStore, Clock, IdGenerator
from cropedly_core.users import Plan, User

log = logging.getLogger("cropedly.catalog")

MAX_DELETE_IDS = 100
MAX_PAGE_SIZE = 200
# The stored reference is the normalised original: upright, no metadata, same family.
NORMALISE = EnhanceOptions(
    upscale=1, adjust=Adjust.NONE, format=OutputFormat.AUTO, quality=95, restore=Restore.NONE
)


@attrs.frozen
class CatalogImage:
    """A reference image.

    Attributes:
        image: where and what the bytes are.
        colour: colour statistics, for reference-guided enhancement.
        seq: insertion order within the repository (newest is highest).
    """

    image: StoredImage
    colour: ColourStats
    seq: int = 0


@attrs.frozen
class Quota:
    """Per-account limits of the catalog."""

    max_images: int = 1000
    max_bytes: int = 2_000_000_000


@attrs.frozen
class Page:
    items: list[CatalogImage]
    next_cursor: str | None


class CatalogRepository(Protocol):
    """Reference-image metadata, always scoped by owner."""

    def add_many(self, owner_id: str, images: Sequence[CatalogImage], quota: Quota) -> None:
        """Store all or none; raises ``QuotaExceeded`` when the owner would pass ``quota``."""
        ...

    def get(self, image_id: str) -> CatalogImage | None:
        """Any owner's image; callers check ownership."""
        ...

    def page(self, owner_id: str, limit: int, before_seq: int | None) -> list[CatalogImage]:
        """The owner's images, newest first, with ``seq`` below ``before_seq`` if given."""
        ...

    def delete_many(self, owner_id: str, image_ids: Sequence[str]) -> list[CatalogImage]:
        """Delete the owner's images among ``image_ids``; returns those deleted."""
        ...

    def usage(self, owner_id: str) -> tuple[int, int]:
        """(count, bytes) of the owner's images."""
        ...


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).rstrip(b"=").decode()


MAX_SEQ = 2**63 - 1  # the largest integer a database row id holds


def decode_cursor(cursor: str) -> int:
    seq: int | None = None
    if len(cursor) <= 32:  # a real cursor is about 10 characters
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            seq = int(raw[1:]) if raw.startswith("s") and raw[1:].isdigit() else None
        except (ValueError, binascii.Error, UnicodeDecodeError):
            seq = None
    if seq is None or not 0 <= seq <= MAX_SEQ:
        raise InvalidInput("The cursor is not one this API returned.", field="cursor")
    return seq


def check_quota(count: int, size: int, quota: Quota) -> None:
    if count > quota.max_images:
        raise QuotaExceeded(
            f"The catalog would hold {count} images; the plan allows {quota.max_images}."
        )
    if size > quota.max_bytes:
        raise QuotaExceeded(
            f"The catalog would hold {size:,} bytes; the plan allows {quota.max_bytes:,}."
        )


@attrs.define
class Catalog:
    """Upload, list, get and delete reference images; Enterprise only."""

    workers: ImageWorkers
    blobs: BlobStore
    images: CatalogRepository
    ids: IdGenerator
    clock: Clock
    limits: ImageLimits = attrs.field(factory=ImageLimits)
    quota: Quota = attrs.field(factory=Quota)
    page_size: int = 50

    def check_access(self, user: User, origin: str | None) -> None:
        """Refuse non-Enterprise callers (before their upload is even read)."""
        require_plan(user, Plan.ENTERPRISE, origin)

    async def upload(self, user: User, uploads: Sequence[Upload], origin: str | None) -> None:
        self.check_access(user, origin)
        check_batch(uploads, self.limits)
        count, size = await asyncio.to_thread(self.images.usage, user.id)
        # Cheap early refusal on the raw sizes; the exact check runs in the repository.
        check_quota(count + len(uploads), size, self.quota)
        results = await process_batch(self.workers, uploads, NORMALISE)
        now = self.clock.now()
        entries = [
            (
                CatalogImage(
                    new_stored_image(
                        upload,
                        result.image,
                        image_id=self.ids.new_id(),
                        owner_id=user.id,
                        area="catalog",
                        now=now,
                    ),
                    result.colour,
                ),
                result.image.data,
            )
            for upload, result in zip(uploads, results, strict=True)
        ]
        await asyncio.to_thread(
            store_all,
            self.blobs,
            [(entry.image, data) for entry, data in entries],
            lambda: self.images.add_many(user.id, [entry for entry, _ in entries], self.quota),
        )
        log.info("catalog: %d image(s) uploaded by %s", len(entries), user.id)

    def list_images(
        self, user: User, origin: str | None, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        self.check_access(user, origin)
        size = self.page_size if limit is None else limit
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"limit must be from 1 to {MAX_PAGE_SIZE}.", field="limit")
        before = decode_cursor(cursor) if cursor else None
        found = self.images.page(user.id, size + 1, before)
        items = found[:size]
        more = len(found) > size
        return Page(items, encode_cursor(items[-1].seq) if more and items else None)

    def get(self, user: User, image_id: str, origin: str | None) -> CatalogImage:
        self.check_access(user, origin)
        found = self.by_id(image_id)
        # Another account's image is "not found" too: its existence is not revealed.
        if found.image.owner_id != user.id:
            raise NotFound("No such reference image.")
        return found

    def by_id(self, image_id: str) -> CatalogImage:
        """For signed links, whose signature already proves the caller was given access."""
        found = self.images.get(image_id)
        if found is None:
            raise NotFound("No such reference image.")
        return found

    def delete(self, user: User, image_ids: Sequence[str], origin: str | None) -> int:
        self.check_access(user, origin)
        wanted = list(dict.fromkeys(i.strip() for i in image_ids if i.strip()))
        if not wanted:
            raise InvalidInput("Give at least one image id.", field="ids")
        if len(wanted) > MAX_DELETE_IDS:
            raise InvalidInput(f"At most {MAX_DELETE_IDS} ids per call.", field="ids")
        deleted = self.images.delete_many(user.id, wanted)
        self.blobs.delete_many(entry.image.blob_key for entry in deleted)
        return len(deleted)

    def reference(self, user: User, image_id: str, origin: str | None) -> ColourStats:
        return self.get(user, image_id, origin).colour
