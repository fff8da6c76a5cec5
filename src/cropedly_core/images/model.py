"""Values of the enhancement pipeline."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs
import numpy as np
from numpy.typing import NDArray

from cropedly_core.errors import InvalidInput
from cropedly_core.images.geometry import Resize

if TYPE_CHECKING:  # reference.py imports Pixels from here
    from cropedly_core.images.reference import ColourStats

Pixels = NDArray[np.uint8]
"""H x W x C, C = 3 (RGB) or 4 (RGBA), sRGB, 8 bits per channel."""


class OutputFormat(enum.StrEnum):
    AUTO = "auto"
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    AVIF = "avif"


class Adjust(enum.StrEnum):
    AUTO = "auto"
    NONE = "none"


class Restore(enum.StrEnum):
    AUTO = "auto"
    NONE = "none"


UPSCALE_FACTORS = (1, 2, 4)


@attrs.frozen
class EnhanceOptions:
    """What the caller asked for.

    Attributes:
        upscale: 1, 2 or 4.
        adjust: ``auto`` corrects exposure, contrast, white balance and saturation;
            ``none`` leaves tone and colour as they are.
        format: output format; ``auto`` keeps the input's family.
        quality: encoder quality 1-100, None for the format's default.
        reference: colour statistics to transfer (reference-guided enhancement).
        restore: ``auto`` removes noise and compression artefacts when the image has
            them; ``none`` leaves them. Last, so positional callers keep their meaning.
        resize: resize to a target size and crop (``geometry.Resize``); an
            alternative to ``upscale``.
    """

    upscale: int = 1
    adjust: Adjust = Adjust.AUTO
    format: OutputFormat = OutputFormat.AUTO
    quality: int | None = None
    reference: ColourStats | None = None
    restore: Restore = Restore.AUTO
    resize: Resize | None = None

    def __attrs_post_init__(self) -> None:
        if self.upscale not in UPSCALE_FACTORS:
            raise InvalidInput("upscale must be 1, 2 or 4.", field="upscale")
        if self.resize is not None and self.upscale != 1:
            raise InvalidInput(
                "upscale and width/height/aspect/crop are alternatives; give one.",
                field="upscale",
            )
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise InvalidInput("quality must be between 1 and 100.", field="quality")


@attrs.frozen
class ImageLimits:
    """Limits on what one request may bring.

    Attributes:
        max_file_bytes: bytes per uploaded file.
        max_pixels: pixels per image, checked from the header before decoding.
        max_files: files per request.
        max_output_pixels: pixels of an upscaled result.
        seconds_per_image: wall-clock budget for one image in a worker.
    """

    max_file_bytes: int = 25_000_000
    max_pixels: int = 50_000_000
    max_files: int = 10
    max_output_pixels: int = 100_000_000
    seconds_per_image: float = 120.0


@attrs.frozen
class ImageInfo:
    """What the header says, read without decoding the pixels."""

    format: str
    width: int
    height: int


@attrs.frozen(eq=False)
class Raster:
    """Decoded, normalised pixels.

    Attributes:
        pixels: H x W x 3 or 4 uint8 sRGB (orientation applied).
        source_format: the input's format name, e.g. ``JPEG``.
        icc_profile: the colour profile to embed in the output, if any.
        grey: the source was greyscale; steps keep R = G = B and the encoder may
            write one channel.
    """

    pixels: Pixels
    source_format: str
    icc_profile: bytes | None = None
    grey: bool = False

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def has_alpha(self) -> bool:
        return int(self.pixels.shape[2]) == 4


@attrs.frozen
class EncodedImage:
    """An encoded result ready to store."""

    data: bytes
    mime_type: str
    extension: str
    width: int
    height: int
