"""``POST /images/v1`` and the signed result links."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from cropedly.http.auth import BEARER
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
from cropedly_core.images.reference import ColourStats
from cropedly_core.images.service import ImageService
from cropedly_core.usage import Usage
from cropedly_core.users import Plan, User

RESULT_LINK = "result"


@post(
    "/images/v1",
    status_code=200,
    tags=["images"],
    summary="Enhance one or more images",
    description="Needs the Pro plan (Enterprise with a registered Origin from a browser). "
    "All or nothing: when any file is refused the answer is one problem whose `errors` "
    "name each refused file, and nothing is stored. Result links are signed and expire.",
    operation_class=EnhanceOperation,
    security=BEARER,
    return_dto=EnhancedImagesDTO,
)
async def enhance(
    request: Request[Any, Any, Any],
    *,
    user: NamedDependency[User],
    images: NamedDependency[ImageService],
    catalog: NamedDependency[Catalog],
    urls: NamedDependency[SignedUrls],
    usage: NamedDependency[Usage],
) -> list[EnhancedImage]:
    origin = origin_of(request)
    # Refuse before reading a possibly large body.
    require_plan(user, Plan.PRO, origin)
    uploads, fields = await read_uploads(request, images.limits.max_files)
    # The monthly quota counts the files received; all or nothing, as the batch.
    now = images.clock.now()
    await asyncio.to_thread(usage.reserve_images, user, len(uploads), now)
    try:
        reference = await _reference(catalog, user, fields, origin)
        options = parse_options(fields, reference)
        stored = await images.enhance(user, uploads, options, origin)
    except BaseException:
        await asyncio.to_thread(usage.release_images, user, len(uploads), now)
        raise
    return [result_view(urls, s) for s in stored]


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
