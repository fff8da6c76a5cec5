"""The enhance use case: validate a batch, run it on workers, store all or nothing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from cropedly_core.accounts import require_plan
from cropedly_core.errors import BatchRejected, FileProblem, ImageRejected, InvalidInput, NotFound
from cropedly_core.images.model import EncodedImage, EnhanceOptions, ImageLimits
from cropedly_core.images.pipeline import EnhancementPipeline, check_output_size, timed
from cropedly_core.images.reference import ColourStats, colour_stats, transfer_colour
from cropedly_core.images.results import ResultRepository, StoredImage
from cropedly_core.ports import BlobStore, Clock, IdGenerator
from cropedly_core.users import Plan, User

log = logging.getLogger("cropedly.images")

MAX_NAME_LENGTH = 255


@attrs.frozen
class Upload:
    """One uploaded file: its name as sent and its bytes."""

    name: str
    data: bytes


@attrs.frozen
class JobResult:
    """What a worker returns: the encoded image, its colour statistics, and step timings.

    ``timings`` maps each pipeline step that ran (``decode``, ``restore``, ``adjust``,
    ``upscale``, ``frame``, ``sharpen``, ``reference``, ``encode``) to its seconds; it
    travels back with the result so that a worker process need not report metrics.
    """

    image: EncodedImage
    colour: ColourStats
    timings: Mapping[str, float] = attrs.field(factory=dict)


class JobRunner(Protocol):
    """Runs one pipeline job away from the caller's event loop, with a time limit."""

    async def run(self, data: bytes, options: EnhanceOptions) -> JobResult:
        """The encoded result.

        Raises ``ImageRejected`` for a file the pipeline refuses, that crashes its
        worker or that runs out of time.
        """
        ...


class ImageWorkers(Protocol):
    """Where jobs run: admits a batch whole, then runs its jobs."""

    def reserve(self, count: int) -> AbstractContextManager[JobRunner]:
        """Places for ``count`` jobs, all or none, held until the block is left.

        Raises ``Overloaded`` at once when the queue cannot take them all, so a
        busy answer never comes after some of the files were processed. Up to
        ``count`` ``run`` calls on the runner use the places held.
        """
        ...


def run_job(pipeline: EnhancementPipeline, data: bytes, options: EnhanceOptions) -> JobResult:
    """What a worker does with one file.

    Size checks from the header, decode, the pipeline's steps, then the
    reference colour (which comes after every other step), encode.
    """
    timings: dict[str, float] = {}
    with timed(timings, "decode"):
        info = pipeline.codec.probe(data, pipeline.limits.max_pixels)
        check_output_size(info, options, pipeline.limits)
        decoded = pipeline.codec.decode(data, pipeline.limits.max_pixels)
    raster = pipeline.process(decoded, options, timings)
    if isinstance(options.reference, ColourStats):
        with timed(timings, "reference"):
            pixels = transfer_colour(raster.pixels, options.reference)
        raster = attrs.evolve(raster, pixels=pixels)
    with timed(timings, "encode"):
        encoded = pipeline.codec.encode(raster, options.format, options.quality)
    return JobResult(encoded, colour_stats(raster.pixels), timings)


def check_batch(uploads: Sequence[Upload], limits: ImageLimits) -> None:
    """Refuse a batch on counts and sizes alone, before any byte is decoded."""
    if not uploads:
        raise InvalidInput("At least one image file is needed.", field="images")
    if len(uploads) > limits.max_files:
        raise BatchRejected(
            [
                FileProblem(
                    u.name,
                    "too-many-files",
                    f"At most {limits.max_files} files per request; got {len(uploads)}.",
                )
                for u in uploads[limits.max_files :]
            ]
        )
    problems = [p for u in uploads if (p := _size_problem(u, limits)) is not None]
    if problems:
        raise BatchRejected(problems)


def _size_problem(upload: Upload, limits: ImageLimits) -> FileProblem | None:
    if not upload.data:
        return FileProblem(upload.name, "empty-file", "The file is empty.")
    if len(upload.data) > limits.max_file_bytes:
        return FileProblem(
            upload.name,
            "file-too-large",
            f"The file has {len(upload.data):,} bytes; the limit is {limits.max_file_bytes:,}.",
        )
    return None


def clean_name(name: str) -> str:
    """The file name without any path, control characters or excess length."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(ch for ch in base if ch.isprintable())
    return printable[:MAX_NAME_LENGTH] or "image"


async def process_batch(
    workers: ImageWorkers,
    uploads: Sequence[Upload],
    options: EnhanceOptions,
    runner: JobRunner | None = None,
) -> list[JobResult]:
    """Run every file; all results, or ``BatchRejected`` naming every refused file.

    The batch is admitted whole before any file is sent: ``Overloaded`` comes
    before any decoding, never after part of the batch was processed. A caller
    that admitted it earlier (an async job) passes the ``runner`` it holds.
    """
    if runner is None:
        with workers.reserve(len(uploads)) as reserved:
            return await process_batch(workers, uploads, options, reserved)
    outcomes = await asyncio.gather(
        *(runner.run(u.data, options) for u in uploads), return_exceptions=True
    )
    problems: list[FileProblem] = []
    encoded: list[JobResult] = []
    for upload, outcome in zip(uploads, outcomes, strict=True):
        if isinstance(outcome, ImageRejected):
            problems.append(FileProblem(upload.name, outcome.slug, outcome.detail))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            encoded.append(outcome)
    if problems:
        raise BatchRejected(problems)
    return encoded


def etag_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def new_stored_image(
    upload: Upload,
    encoded: EncodedImage,
    *,
    image_id: str,
    owner_id: str,
    area: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> StoredImage:
    """Metadata of an encoded upload, its blob key under ``<area>/<owner>/``."""
    return StoredImage(
        id=image_id,
        owner_id=owner_id,
        blob_key=f"{area}/{owner_id}/{image_id}.{encoded.extension}",
        mime_type=encoded.mime_type,
        size=len(encoded.data),
        width=encoded.width,
        height=encoded.height,
        original_name=clean_name(upload.name),
        etag=etag_of(encoded.data),
        created_at=now,
        expires_at=expires_at,
    )


def store_all(
    blobs: BlobStore, images: Sequence[tuple[StoredImage, bytes]], commit: Callable[[], None]
) -> None:
    """Write every blob, then ``commit`` the metadata; on any failure remove every blob.

    Blobs first: a crash in between leaves unreferenced bytes, never a record
    whose bytes are missing.
    """
    written: list[str] = []
    try:
        for meta, data in images:
            blobs.put(meta.blob_key, data)
            written.append(meta.blob_key)
        commit()
    except BaseException:
        blobs.delete_many(written)
        raise


@attrs.define
class ImageService:
    """The enhance use case and its stored results, built from ports."""

    workers: ImageWorkers
    blobs: BlobStore
    results: ResultRepository
    ids: IdGenerator
    clock: Clock
    limits: ImageLimits = attrs.field(factory=ImageLimits)
    result_ttl: timedelta = timedelta(hours=24)

    def admit(
        self, user: User, uploads: Sequence[Upload], origin: str | None = None
    ) -> AbstractContextManager[JobRunner]:
        """What ``enhance`` checks before any work, and the batch's places on the workers.

        For an async job: every refusal that does not need the pixels (plan, counts,
        sizes, a busy queue) comes before the job is accepted.
        """
        require_plan(user, Plan.PRO, origin)
        check_batch(uploads, self.limits)
        return self.workers.reserve(len(uploads))

    async def enhance(
        self,
        user: User,
        uploads: Sequence[Upload],
        options: EnhanceOptions,
        origin: str | None = None,
        runner: JobRunner | None = None,
    ) -> list[StoredImage]:
        """Enhance every upload; nothing is stored unless every file succeeds.

        ``runner``: the places ``admit`` reserved for this batch, if it was admitted.
        """
        require_plan(user, Plan.PRO, origin)
        check_batch(uploads, self.limits)
        results = await process_batch(self.workers, uploads, options, runner)
        encoded = [r.image for r in results]
        # Whole seconds: the signed links carry the expiry as Unix seconds.
        now = self.clock.now().replace(microsecond=0)
        stored = [
            new_stored_image(
                upload,
                image,
                image_id=self.ids.new_id(),
                owner_id=user.id,
                area="results",
                now=now,
                expires_at=now + self.result_ttl,
            )
            for upload, image in zip(uploads, encoded, strict=True)
        ]
        items = [(meta, image.data) for meta, image in zip(stored, encoded, strict=True)]
        await asyncio.to_thread(store_all, self.blobs, items, lambda: self.results.add_many(stored))
        log.info("enhanced %d image(s) for %s", len(stored), user.id)
        return stored

    def result(self, result_id: str) -> StoredImage:
        """A live result; expired ones are gone even before the purge runs."""
        meta = self.results.get(result_id)
        if meta is None or (meta.expires_at is not None and meta.expires_at <= self.clock.now()):
            raise NotFound("No such result, or it has expired.")
        return meta

    def purge_expired(self, batch: int = 500) -> int:
        """Delete expired results and their bytes; returns how many went."""
        total = 0
        while True:
            expired = self.results.expired(self.clock.now(), batch)
            if not expired:
                return total
            # Metadata first: a crash between the two leaves orphan bytes, never a dead link.
            self.results.delete_many([r.id for r in expired])
            self.blobs.delete_many(r.blob_key for r in expired)
            total += len(expired)
