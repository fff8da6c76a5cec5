"""``/images/v1/enterprise-resources/images``: the Enterprise reference catalog."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from cropedly.bootstrap import Services
from cropedly.http.auth import BEARER
from cropedly.http.image_routes import SignedLink, iso, origin_of, serve_signed, signed_url
from cropedly.http.uploads import UploadOperation, read_uploads
from cropedly_core.catalog import MAX_PAGE_SIZE, CatalogImage
from cropedly_core.users import User

BASE = "/images/v1/enterprise-resources/images"
CATALOG_LINK = "catalog"
TAGS = ["enterprise catalog"]


@dataclass
class ReferenceImage:
    id: str
    url: str
    mimeType: str  # noqa: N815 - the API's JSON names are camelCase
    size: int
    width: int
    height: int
    originalName: str  # noqa: N815
    createdAt: str  # noqa: N815


def reference_view(services: Services, entry: CatalogImage) -> ReferenceImage:
    image = entry.image
    expires = services.clock.now() + services.images.result_ttl
    return ReferenceImage(
        id=image.id,
        url=signed_url(services, CATALOG_LINK, f"{BASE}/{image.id}/content", image.id, expires),
        mimeType=image.mime_type,
        size=image.size,
        width=image.width,
        height=image.height,
        originalName=image.original_name,
        createdAt=iso(image.created_at),
    )


@post(
    f"{BASE}/upload",
    status_code=204,
    tags=TAGS,
    security=BEARER,
    summary="Upload reference images",
    description="Enterprise only. Same formats, limits and all-or-nothing rule as "
    "POST /images/v1. Stores the normalised original (upright, metadata removed, colour "
    "profile kept). Refused with 413 `quota-exceeded` past the account's quota.",
    operation_class=UploadOperation,
)
async def upload_references(
    request: Request[Any, Any, Any],
    user: NamedDependency[User],
    services: NamedDependency[Services],
) -> None:
    origin = origin_of(request)
    services.catalog.check_access(user, origin)
    uploads, _ = await read_uploads(request)
    await services.catalog.upload(user, uploads, origin)


@get(
    BASE,
    tags=TAGS,
    security=BEARER,
    summary="List reference images, newest first",
    description="Pages of `limit` items (default 50, at most 200); when more remain, a "
    '`Link: <…>; rel="next"` header gives the next page.',
)
async def list_references(
    request: Request[Any, Any, Any],
    user: NamedDependency[User],
    services: NamedDependency[Services],
    limit: Annotated[int | None, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = None,
    cursor: FromQuery[str | None] = None,
) -> Response[list[ReferenceImage]]:
    page = await asyncio.to_thread(
        services.catalog.list_images, user, origin_of(request), limit, cursor
    )
    headers = {}
    if page.next_cursor:
        size = limit or services.catalog.page_size
        base = services.settings.base_url
        headers["Link"] = f'<{base}{BASE}?limit={size}&cursor={page.next_cursor}>; rel="next"'
    return Response([reference_view(services, e) for e in page.items], headers=headers)


@get(
    f"{BASE}/{{image_id:str}}",
    tags=TAGS,
    security=BEARER,
    summary="One reference image's metadata",
    sync_to_thread=True,
)
def get_reference(
    request: Request[Any, Any, Any],
    image_id: FromPath[str],
    user: NamedDependency[User],
    services: NamedDependency[Services],
) -> ReferenceImage:
    return reference_view(services, services.catalog.get(user, image_id, origin_of(request)))


@delete(
    BASE,
    status_code=204,
    tags=TAGS,
    security=BEARER,
    summary="Delete reference images by id",
    description="`?ids=a&ids=b` or `?ids=a,b` (at most 100). Only the caller's images are "
    "deleted; unknown and other accounts' ids are ignored, so the call is idempotent.",
    sync_to_thread=True,
)
def delete_references(
    request: Request[Any, Any, Any],
    user: NamedDependency[User],
    services: NamedDependency[Services],
    ids: FromQuery[list[str] | None] = None,
) -> None:
    wanted = [part for value in ids or [] for part in value.split(",")]
    services.catalog.delete(user, wanted, origin_of(request))


@get(
    f"{BASE}/{{image_id:str}}/content",
    tags=TAGS,
    summary="Download a reference image through its signed link",
    sync_to_thread=True,
)
def download_reference(
    request: Request[Any, Any, Any],
    image_id: FromPath[str],
    expires: FromQuery[str],
    sig: FromQuery[str],
    services: NamedDependency[Services],
) -> Response[bytes]:
    link = SignedLink(CATALOG_LINK, image_id, expires, sig)
    return serve_signed(request, services, link, lambda i: services.catalog.by_id(i).image)


CATALOG_ROUTES = [
    upload_references,
    list_references,
    get_reference,
    delete_references,
    download_reference,
]
