"""``POST /images/v1`` and the signed result links."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery

from cropedly.bootstrap import Services
from cropedly.http.auth import BEARER
from cropedly.http.uploads import EnhanceOperation, parse_options, read_uploads
from cropedly_core.accounts import require_plan
from cropedly_core.images.results import StoredImage
from cropedly_core.users import Plan, User

RESULT_LINK = "result"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class EnhancedImage:
    id: str
    url: str
    mimeType: str  # noqa: N815 - the API's JSON names are camelCase
    size: int
    width: int
    height: int
    originalName: str  # noqa: N815
    expiresAt: str  # noqa: N815


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def signed_url(
    services: Services, kind: str, path: str, resource_id: str, expires: datetime
) -> str:
    stamp, signature = services.links.sign(kind, resource_id, expires)
    return f"{services.settings.base_url}{path}?expires={stamp}&sig={signature}"


def result_view(services: Services, result: StoredImage) -> EnhancedImage:
    assert result.expires_at is not None
    return EnhancedImage(
        id=result.id,
        url=signed_url(
            services, RESULT_LINK, f"/images/v1/results/{result.id}", result.id, result.expires_at
        ),
        mimeType=result.mime_type,
        size=result.size,
        width=result.width,
        height=result.height,
        originalName=result.original_name,
        expiresAt=iso(result.expires_at),
    )


def origin_of(request: Request[Any, Any, Any]) -> str | None:
    """A browser call is one that carries an Origin header."""
    origin = request.headers.get("origin")
    return origin if origin and origin != "null" else None


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
)
async def enhance(
    request: Request[Any, Any, Any],
    user: NamedDependency[User],
    services: NamedDependency[Services],
) -> list[EnhancedImage]:
    origin = origin_of(request)
    # Refuse before reading a possibly large body.
    require_plan(user, Plan.PRO, origin)
    uploads, fields = await read_uploads(request)
    reference = None
    if fields.get("referenceId", "").strip():
        reference = await asyncio.to_thread(
            services.catalog.reference, user, fields["referenceId"].strip(), origin
        )
    options = parse_options(fields, reference)
    stored = await services.images.enhance(user, uploads, options, origin)
    return [result_view(services, s) for s in stored]


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
    expires: FromQuery[str],
    sig: FromQuery[str],
    services: NamedDependency[Services],
) -> Response[bytes]:
    link = SignedLink(RESULT_LINK, result_id, expires, sig)
    return serve_signed(request, services, link, services.images.result)


@dataclass
class SignedLink:
    kind: str
    resource_id: str
    expires: str
    sig: str


def serve_signed(
    request: Request[Any, Any, Any],
    services: Services,
    link: SignedLink,
    lookup: Callable[[str], StoredImage],
) -> Response[bytes]:
    """Check the link's signature and expiry, then serve what ``lookup`` finds."""
    now = services.clock.now()
    stamp = services.links.check(link.kind, link.resource_id, link.expires, link.sig, now)
    image = lookup(link.resource_id)
    return serve_blob(request, services, image, max_age=stamp - int(now.timestamp()))


def serve_blob(
    request: Request[Any, Any, Any], services: Services, image: StoredImage, max_age: int
) -> Response[bytes]:
    """The bytes with Content-Type, ETag, Cache-Control and single-range support."""
    etag = f'"{image.etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={max(0, max_age)}, immutable",
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    if_none_match = request.headers.get("if-none-match", "")
    if if_none_match.strip() == "*" or etag in if_none_match:
        return Response(content=b"", status_code=304, headers=headers)
    blobs = services.blobs
    size = image.size
    wanted = request.headers.get("range")
    found = _RANGE.match(wanted.strip()) if wanted else None
    bounds = _bounds(found.group(1), found.group(2), size) if found else None
    if bounds is not None:
        start, end = bounds
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Response(
            content=blobs.get_range(image.blob_key, start, end),
            status_code=206,
            media_type=image.mime_type,
            headers=headers,
        )
    return Response(content=blobs.get(image.blob_key), media_type=image.mime_type, headers=headers)


def _bounds(first: str, last: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte range, None to ignore the header (RFC 9110), or 416."""
    if first:
        start = int(first)
        if last and int(last) < start:
            return None  # syntactically invalid: serve the whole file
        end = min(int(last), size - 1) if last else size - 1
    elif last:  # the final N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        return None
    if start >= size or end < start:
        raise HTTPException(
            status_code=416,
            detail="The requested range is outside the file.",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


IMAGE_ROUTES = [enhance, download_result]
