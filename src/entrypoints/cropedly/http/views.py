"""What several route modules share: response models, signed links, blob downloads, Origin.

Response models are dataclasses with Python names; one DTO config renames them
to the API's camelCase, so no model spells its JSON by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import attrs
from litestar import Request, Response
from litestar.dto import DataclassDTO, DTOConfig
from litestar.exceptions import HTTPException

from cropedly_core.images.results import StoredImage
from cropedly_core.links import LinkSigner
from cropedly_core.ports import BlobStore, Clock

CAMEL = DTOConfig(rename_strategy="camel")
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")  # 18 digits: any real size, no bignums
MAX_ORIGIN_LENGTH = 2048


def iso(moment: datetime) -> str:
    """The one timestamp format of the API: UTC, seconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def origin_of(request: Request[Any, Any, Any]) -> str | None:
    """A browser call is one that carries an Origin header; ``null`` is one too."""
    origin = request.headers.get("origin")
    if origin is None:
        return None
    return origin[:MAX_ORIGIN_LENGTH]


@dataclass
class StoredImageView:
    """What the API says of any stored image: a result or a reference image."""

    id: str
    url: str
    mime_type: str
    size: int
    width: int
    height: int
    original_name: str


@dataclass
class EnhancedImage(StoredImageView):
    expires_at: str


@dataclass
class ReferenceImage(StoredImageView):
    created_at: str


EnhancedImagesDTO = DataclassDTO[Annotated[EnhancedImage, CAMEL]]
ReferenceImageDTO = DataclassDTO[Annotated[ReferenceImage, CAMEL]]


@attrs.frozen
class SignedUrls:
    """Absolute, HMAC-signed, expiring download links, and their check."""

    signer: LinkSigner
    base_url: str
    clock: Clock

    def url(self, kind: str, path: str, resource_id: str, expires: datetime) -> str:
        stamp, signature = self.signer.sign(kind, resource_id, expires)
        return f"{self.base_url}{path}?expires={stamp}&sig={signature}"

    def seconds_left(self, kind: str, resource_id: str, expires: str, sig: str) -> int:
        """Check a link (raises ``LinkInvalid``) and return how long it stays valid."""
        now = self.clock.now()
        stamp = self.signer.check(kind, resource_id, expires, sig, now)
        return max(0, stamp - int(now.timestamp()))


def result_view(urls: SignedUrls, result: StoredImage) -> EnhancedImage:
    assert result.expires_at is not None
    return EnhancedImage(
        id=result.id,
        url=urls.url("result", f"/images/v1/results/{result.id}", result.id, result.expires_at),
        mime_type=result.mime_type,
        size=result.size,
        width=result.width,
        height=result.height,
        original_name=result.original_name,
        expires_at=iso(result.expires_at),
    )


@attrs.frozen
class Downloads:
    """Serves stored blobs through signed links."""

    urls: SignedUrls
    blobs: BlobStore

    def serve(
        self,
        request: Request[Any, Any, Any],
        link: tuple[str, str, str, str],
        lookup: Callable[[str], StoredImage],
    ) -> Response[bytes]:
        """Check the link ``(kind, id, expires, sig)``, then serve what ``lookup`` finds."""
        kind, resource_id, expires, sig = link
        max_age = self.urls.seconds_left(kind, resource_id, expires, sig)
        return self.blob(request, lookup(resource_id), max_age)

    def blob(
        self, request: Request[Any, Any, Any], image: StoredImage, max_age: int
    ) -> Response[bytes]:
        """The bytes with Content-Type, ETag, Cache-Control and single-range support."""
        etag = f'"{image.etag}"'
        headers = {
            "ETag": etag,
            "Cache-Control": f"private, max-age={max_age}, immutable",
            "Accept-Ranges": "bytes",
            "X-Content-Type-Options": "nosniff",
        }
        if_none_match = request.headers.get("if-none-match", "")[:1024]
        if if_none_match.strip() == "*" or etag in if_none_match:
            return Response(content=b"", status_code=304, headers=headers)
        size = image.size
        wanted = request.headers.get("range", "")[:100]
        found = _RANGE.match(wanted.strip()) if wanted else None
        bounds = _bounds(found.group(1), found.group(2), size) if found else None
        if bounds is not None:
            start, end = bounds
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return Response(
                content=self.blobs.get_range(image.blob_key, start, end),
                status_code=206,
                media_type=image.mime_type,
                headers=headers,
            )
        return Response(
            content=self.blobs.get(image.blob_key), media_type=image.mime_type, headers=headers
        )


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
