"""``POST /images/v1`` and the signed result links."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_202_ACCEPTED

from cropedly.http.auth import BEARER
from cropedly.http.job_routes import AsyncBatch, AsyncJobs, JobView, prefers_async
from cropedly.http.uploads import EnhanceOperation, parse_options, read_uploads
from cropedly.http.views import (
    Downloads,
    EnhancedImage,
    EnhancedImagesDTO,
    SignedUrls,
    origin_of,
    result_view,
)
from cropedly_core.accounts import require_plan
from cropedly_core.catalog import Catalog
from cropedly_core.errors import InvalidInput
from cropedly_core.images.reference import ColourStats
from cropedly_core.images.service import ImageService
from cropedly_core.usage import Usage
from cropedly_core.users import Plan, User
from cropedly_core.webhooks import FIELD as CALLBACK_FIELD
from cropedly_core.webhooks import parse_callback_url

RESULT_LINK = "result"


class EnhanceResultsDTO(EnhancedImagesDTO):
    """The results' DTO; the 202 of an async job (already plain JSON) passes through."""

    def data_to_encodable_type(self, data: Any) -> Any:
        if isinstance(data, Response) and data.status_code == HTTP_202_ACCEPTED:
            return data
        return super().data_to_encodable_type(data)


@post(
    "/images/v1",
    status_code=200,
    tags=["images"],
    summary="Enhance one or more images",
    description="Needs the Pro plan (Enterprise with a registered Origin from a browser). "
    "All or nothing: when any file is refused the answer is one problem whose `errors` "
    "name each refused file, and nothing is stored. Result links are signed and expire. "
    "With `Prefer: respond-async` (RFC 7240) the answer is 202 with the job (`Location`: "
    "`/images/v1/jobs/{id}`) once the batch passed every check that needs no pixels; "
    "`callbackUrl` then receives the finished job as a signed webhook.",
    operation_class=EnhanceOperation,
    security=BEARER,
    return_dto=EnhanceResultsDTO,
    responses={
        HTTP_202_ACCEPTED: ResponseSpec(
            JobView,
            description="Accepted as an async job (`Prefer: respond-async`): the job, "
            "`queued`. `Location` is its address; `Preference-Applied: respond-async`.",
            generate_examples=False,
        )
    },
)
async def enhance(
    request: Request[Any, Any, Any],
    *,
    user: NamedDependency[User],
    images: NamedDependency[ImageService],
    catalog: NamedDependency[Catalog],
    urls: NamedDependency[SignedUrls],
    usage: NamedDependency[Usage],
    async_jobs: NamedDependency[AsyncJobs],
) -> Response[list[EnhancedImage]]:
    origin = origin_of(request)
    # Refuse before reading a possibly large body.
    require_plan(user, Plan.PRO, origin)
    uploads, fields = await read_uploads(request, images.limits.max_files)
    in_background = prefers_async(request)
    callback_url = fields.get(CALLBACK_FIELD, "").strip() or None
    if callback_url is not None and not in_background:
        raise InvalidInput(
            "callbackUrl needs an async job: send Prefer: respond-async.", field=CALLBACK_FIELD
        )
    if callback_url is not None:
        parse_callback_url(callback_url)
    # The monthly quota counts the files received; all or nothing, as the batch.
    now = images.clock.now()
    await asyncio.to_thread(usage.reserve_images, user, len(uploads), now)
    try:
        reference = await _reference(catalog, user, fields, origin)
        options = parse_options(fields, reference)
        if in_background:
            batch = AsyncBatch(user, uploads, options, origin, callback_url, now)
            return await async_jobs.submit(batch)
        stored = await images.enhance(user, uploads, options, origin)
    except BaseException:
        await asyncio.to_thread(usage.release_images, user, len(uploads), now)
        raise
    return Response([result_view(urls, s) for s in stored])


async def _reference(
    catalog: Catalog, user: User, fields: dict[str, str], origin: str | None
) -> ColourStats | None:
    reference = None
    if fields.get("referenceId", "").strip():
        reference = await asyncio.to_thread(
            catalog.reference, user, fields["referenceId"].strip(), origin
        )
    return reference


@get(
    "/images/v1/results/{result_id:str}",
    tags=["images"],
    summary="Download a result through its signed link",
    description="No token needed: the link's signature and expiry are the credential. "
    "Supports Range, ETag and If-None-Match.",
    sync_to_thread=True,
)
def download_result(
    request: Request[Any, Any, Any],
    result_id: FromPath[str],
    *,
    expires: FromQuery[str],
    sig: FromQuery[str],
    images: NamedDependency[ImageService],
    downloads: NamedDependency[Downloads],
) -> Response[bytes]:
    return downloads.serve(request, (RESULT_LINK, result_id, expires, sig), images.result)


IMAGE_ROUTES = [enhance, download_result]
