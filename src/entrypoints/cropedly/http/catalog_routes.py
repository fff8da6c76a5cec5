"""``/images/v1/enterprise-resources/images``: the Enterprise reference catalog."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any

import attrs
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from cropedly.http.auth import BEARER
from cropedly.http.uploads import UploadOperation, read_uploads
from cropedly.http.views import (
    Downloads,
    ReferenceImage,
    ReferenceImageDTO,
    SignedUrls,
    iso,
    origin_of,
)
from cropedly_core.catalog import MAX_PAGE_SIZE, Catalog, CatalogImage
from cropedly_core.users import User

BASE = "/images/v1/enterprise-resources/images"
CATALOG_LINK = "catalog"
TAGS = ["enterprise catalog"]
MAX_ID_LENGTH = 64


@attrs.frozen
class CatalogViews:
    """Metadata of reference images, with download links valid for ``link_ttl``."""

    urls: SignedUrls
    link_ttl: timedelta

    def view(self, entry: CatalogImage) -> ReferenceImage:
        image = entry.image
        expires = self.urls.clock.now() + self.link_ttl
        return ReferenceImage(
            id=image.id,
            url=self.urls.url(CATALOG_LINK, f"{BASE}/{image.id}/content", image.id, expires),
            mime_type=image.mime_type,
            size=image.size,
            width=image.width,
            height=image.height,
            original_name=image.original_name,
            created_at=iso(image.created_at),
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
    catalog: NamedDependency[Catalog],
) -> None:
    origin = origin_of(request)
    catalog.check_access(user, origin)
    uploads, _ = await read_uploads(request, catalog.limits.max_files)
    await catalog.upload(user, uploads, origin)


@get(
    BASE,
    tags=TAGS,
    security=BEARER,
    summary="List reference images, newest first",
    description="Pages of `limit` items (default 50, at most 200); when more remain, a "
    '`Link: <…>; rel="next"` header gives the next page.',
    return_dto=ReferenceImageDTO,
)
async def list_references(
    request: Request[Any, Any, Any],
    *,
    user: NamedDependency[User],
    catalog: NamedDependency[Catalog],
    catalog_views: NamedDependency[CatalogViews],
    limit: Annotated[int | None, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = None,
    cursor: Annotated[str | None, QueryParameter(max_length=64)] = None,
) -> Response[list[ReferenceImage]]:
    page = await asyncio.to_thread(catalog.list_images, user, origin_of(request), limit, cursor)
    headers = {}
    if page.next_cursor:
        size = limit or catalog.page_size
        base = catalog_views.urls.base_url
        headers["Link"] = f'<{base}{BASE}?limit={size}&cursor={page.next_cursor}>; rel="next"'
    return Response([catalog_views.view(e) for e in page.items], headers=headers)


@get(
    f"{BASE}/{{image_id:str}}",
    tags=TAGS,
    security=BEARER,
    summary="One reference image's metadata",
    sync_to_thread=True,
    return_dto=ReferenceImageDTO,
)
def get_reference(
    request: Request[Any, Any, Any],
    image_id: FromPath[str],
    *,
    user: NamedDependency[User],
    catalog: NamedDependency[Catalog],
    catalog_views: NamedDependency[CatalogViews],
) -> ReferenceImage:
    return catalog_views.view(catalog.get(user, image_id[:MAX_ID_LENGTH], origin_of(request)))


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
    catalog: NamedDependency[Catalog],
    ids: Annotated[list[str] | None, QueryParameter(max_items=100)] = None,
) -> None:
    wanted = [part[:MAX_ID_LENGTH] for value in ids or [] for part in value.split(",")]
    catalog.delete(user, wanted, origin_of(request))


@get(
    f"{BASE}/{{image_id:str}}/content",
    tags=TAGS,
    summary="Download a reference image through its signed link",
    sync_to_thread=True,
)
def download_reference(
    request: Request[Any, Any, Any],
    image_id: FromPath[str],
    *,
    expires: FromQuery[str],
    sig: FromQuery[str],
    catalog: NamedDependency[Catalog],
    downloads: NamedDependency[Downloads],
) -> Response[bytes]:
    link = (CATALOG_LINK, image_id, expires, sig)
    return downloads.serve(request, link, lambda i: catalog.by_id(i).image)


CATALOG_ROUTES = [
    upload_references,
    list_references,
    get_reference,
    delete_references,
    download_reference,
]
