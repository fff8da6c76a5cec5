"""Reading multipart uploads and their options; shared by enhance and catalog routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from litestar import Request
from litestar.datastructures import UploadFile
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from cropedly.http.forms import close_files, parse_form
from cropedly_core.errors import InvalidInput
from cropedly_core.images.geometry import (
    MAX_SIDE,
    TRANSPARENT,
    Fit,
    Resize,
    parse_aspect,
    parse_background,
    parse_crop,
)
from cropedly_core.images.model import Adjust, EnhanceOptions, OutputFormat, Restore
from cropedly_core.images.reference import ColourStats
from cropedly_core.images.service import Upload

T = TypeVar("T")

FILE_FIELDS = ("images", "images[]")  # browser form libraries append "[]"


async def read_uploads(
    request: Request[Any, Any, Any], max_files: int
) -> tuple[list[Upload], dict[str, str]]:
    """The files under ``images``/``images[]`` in order, and the plain form fields.

    The form is parsed with a bound on every part (``forms.parse_form``); files past
    ``max_files`` are counted but not kept, so the core can name them in its refusal.
    """
    form = await parse_form(request, file_fields=FILE_FIELDS)
    uploads: list[Upload] = []
    fields: dict[str, str] = {}
    try:
        for name, values in form.items():
            for value in values:
                if isinstance(value, UploadFile):
                    if name not in FILE_FIELDS:
                        raise InvalidInput(
                            f"Unexpected file field {name!r}; send files as 'images'.", field=name
                        )
                    data = await value.read() if len(uploads) < max_files else b""
                    uploads.append(Upload(name=value.filename or "image", data=data))
                elif name in FILE_FIELDS:
                    raise InvalidInput("'images' must be files, not text fields.", field="images")
                else:
                    fields[name] = value
    finally:
        await close_files(form)
    return uploads, fields


def parse_options(fields: dict[str, str], reference: ColourStats | None = None) -> EnhanceOptions:
    """``upscale``, ``restore``, ``adjust``, ``format`` and ``quality`` with clear 422s."""
    upscale = _choice(fields, "upscale", {"1": 1, "2": 2, "4": 4}, 1)
    restore = _choice(fields, "restore", {r.value: r for r in Restore}, Restore.AUTO)
    adjust = _choice(fields, "adjust", {a.value: a for a in Adjust}, Adjust.AUTO)
    fmt = _choice(fields, "format", {f.value: f for f in OutputFormat}, OutputFormat.AUTO)
    quality: int | None = None
    raw_quality = fields.get("quality", "").strip()
    if raw_quality:
        # At most three digits before int(): thousands of digits were a 500.
        if not (len(raw_quality) <= 3 and raw_quality.isdecimal() and raw_quality.isascii()):
            raise InvalidInput("quality must be a whole number from 1 to 100.", field="quality")
        if not 1 <= int(raw_quality) <= 100:
            raise InvalidInput("quality must be a whole number from 1 to 100.", field="quality")
        quality = int(raw_quality)
    return EnhanceOptions(
        upscale=upscale,
        adjust=adjust,
        format=fmt,
        quality=quality,
        reference=reference,
        restore=restore,
        resize=parse_resize(fields),
    )


RESIZE_FIELDS = ("width", "height", "fit", "aspect", "crop", "background")
MAX_FIELD_CHARS = 40  # the longest valid value is an x,y,w,h rectangle


def parse_resize(fields: dict[str, str]) -> Resize | None:
    """``width``, ``height``, ``fit``, ``aspect``, ``crop`` and ``background``; None if absent."""
    raw = {name: fields.get(name, "").strip() for name in RESIZE_FIELDS}
    for name, value in raw.items():
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidInput(f"{name} is too long.", field=name)
    if not any(raw[name] for name in ("width", "height", "aspect", "crop", "fit")):
        if raw["background"]:
            raise InvalidInput("background needs fit=pad.", field="background")
        return None
    fits: dict[str, Fit | None] = {f.value: f for f in Fit}
    fit = _choice(fields, "fit", fits, None)
    if raw["background"] and fit is not Fit.PAD:
        raise InvalidInput("background needs fit=pad.", field="background")
    return Resize(
        width=_side(raw["width"], "width"),
        height=_side(raw["height"], "height"),
        aspect=parse_aspect(raw["aspect"]) if raw["aspect"] else None,
        fit=fit,
        crop=parse_crop(raw["crop"]) if raw["crop"] else None,
        background=parse_background(raw["background"]) if raw["background"] else TRANSPARENT,
    )


def _side(raw: str, name: str) -> int | None:
    if not raw:
        return None
    # At most five digits before int(), like quality.
    if not (len(raw) <= len(str(MAX_SIDE)) and raw.isdecimal() and raw.isascii()):
        raise InvalidInput(f"{name} must be a whole number from 1 to {MAX_SIDE}.", field=name)
    value = int(raw)
    if not 1 <= value <= MAX_SIDE:
        raise InvalidInput(f"{name} must be a whole number from 1 to {MAX_SIDE}.", field=name)
    return value


def _choice(fields: dict[str, str], name: str, allowed: dict[str, T], default: T) -> T:
    raw = fields.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in allowed:
        raise InvalidInput(f"{name} must be one of: {', '.join(allowed)}.", field=name)
    return allowed[raw]


def _files_schema(extra: dict[str, Schema]) -> RequestBody:
    images = Schema(
        type=OpenAPIType.ARRAY,
        items=Schema(type=OpenAPIType.STRING, format="binary"),  # type: ignore[arg-type]
        description="One or more image files (JPEG, PNG, WebP, GIF, TIFF, BMP, AVIF, HEIC). "
        "The field may also be called images[].",
    )
    return RequestBody(
        required=True,
        content={
            "multipart/form-data": OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.OBJECT,
                    properties={"images": images, **extra},
                    required=["images"],
                )
            )
        },
    )


def _enum(description: str, values: list[str], default: str) -> Schema:
    return Schema(
        type=OpenAPIType.STRING,
        enum=values,
        default=default,
        description=description,
    )


@dataclass
class EnhanceOperation(Operation):
    """Documents the multipart body that the handler reads itself."""

    # Litestar builds the operation with ``request_body=None`` (the handler has no
    # ``data`` parameter), which overrides a field default: fill it in afterwards.
    def __post_init__(self) -> None:
        if self.request_body is None:
            self.request_body = _files_schema(
                {
                    "upscale": _enum("Upscaling factor (learned model).", ["1", "2", "4"], "1"),
                    "restore": _enum(
                        "auto: remove noise and JPEG artefacts when the image has them; "
                        "none: leave them.",
                        [r.value for r in Restore],
                        "auto",
                    ),
                    "adjust": _enum(
                        "auto: correct exposure, contrast, white balance and saturation; "
                        "none: leave tone and colour as they are.",
                        [a.value for a in Adjust],
                        "auto",
                    ),
                    "format": _enum(
                        "Output format; auto keeps the input's family.",
                        [f.value for f in OutputFormat],
                        "auto",
                    ),
                    "quality": Schema(
                        type=OpenAPIType.INTEGER,
                        minimum=1,
                        maximum=100,
                        description="Encoder quality (JPEG default 90).",
                    ),
                    "width": Schema(
                        type=OpenAPIType.INTEGER,
                        minimum=1,
                        maximum=MAX_SIDE,
                        description="Target width in pixels (with or without height). "
                        "An alternative to upscale; enlarging uses the learned upscaler.",
                    ),
                    "height": Schema(
                        type=OpenAPIType.INTEGER,
                        minimum=1,
                        maximum=MAX_SIDE,
                        description="Target height in pixels (with or without width).",
                    ),
                    "fit": Schema(
                        type=OpenAPIType.STRING,
                        enum=[f.value for f in Fit],
                        description="contain: inside the box, aspect kept (default with a "
                        "box); cover: fill the box, cropped (default with an aspect or a "
                        "crop mode); fill: stretch; pad: contain, then pad with background.",
                    ),
                    "aspect": Schema(
                        type=OpenAPIType.STRING,
                        pattern=r"^\d{1,4}:\d{1,4}$",
                        description="Aspect ratio such as 16:9 or 1:1, instead of a box; "
                        "with width or height it sets the other side.",
                    ),
                    "crop": Schema(
                        type=OpenAPIType.STRING,
                        pattern=r"^(smart|center|faces|\d{1,6},\d{1,6},\d{1,6},\d{1,6})$",
                        description="Where a cover crop goes: smart (default: saliency and "
                        "faces), center, faces (falls back to smart), or x,y,w,h in source "
                        "pixels after EXIF orientation, cut before resizing.",
                    ),
                    "background": Schema(
                        type=OpenAPIType.STRING,
                        default="transparent",
                        description="Padding for fit=pad: transparent, white, black, #rrggbb "
                        "or #rrggbbaa (formats without alpha show transparency as white).",
                    ),
                    "referenceId": Schema(
                        type=OpenAPIType.STRING,
                        description="Enterprise: id of a catalog image whose colour and tone "
                        "the result takes.",
                    ),
                    "callbackUrl": Schema(
                        type=OpenAPIType.STRING,
                        format="uri",  # type: ignore[arg-type]
                        max_length=2048,
                        description="With `Prefer: respond-async` only: an http(s) URL on a "
                        "public address that receives the finished job, signed "
                        "(`Cropedly-Signature`).",
                    ),
                }
            )


@dataclass
class UploadOperation(Operation):
    """Documents the catalog upload's multipart body (see ``EnhanceOperation``)."""

    def __post_init__(self) -> None:
        if self.request_body is None:
            self.request_body = _files_schema({})
