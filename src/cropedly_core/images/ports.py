"""Ports of the enhancement pipeline."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from cropedly_core.images.geometry import Rect
from cropedly_core.images.model import EncodedImage, ImageInfo, OutputFormat, Pixels, Raster


class ImageCodec(Protocol):
    """Reads and writes image files; formats are decided from the bytes."""

    def probe(self, data: bytes, max_pixels: int) -> ImageInfo:
        """Identify the format and size from the header.

        Raises ``ImageRejected`` (``unsupported-format``, ``too-many-pixels``,
        ``corrupt-image``) without decoding the pixels.
        """
        ...

    def decode(self, data: bytes, max_pixels: int) -> Raster:
        """Decode and normalise: orientation, sRGB, 8 bits, alpha kept."""
        ...

    def encode(self, raster: Raster, fmt: OutputFormat, quality: int | None) -> EncodedImage:
        """Encode without personal metadata; ``AUTO`` keeps the input's family."""
        ...

    def transcode(
        self, data: bytes, max_pixels: int, fmt: OutputFormat, quality: int | None
    ) -> EncodedImage:
        """Exactly ``encode(decode(data, max_pixels), fmt, quality)``, for a job that changes
        no pixel; a codec may skip handing the pixels over and back."""
        ...


class Upscaler(Protocol):
    """Enlarges pixels by an integer factor (2 or 4)."""

    def upscale(self, pixels: Pixels, factor: int) -> Pixels:
        """H x W x C -> (H*factor) x (W*factor) x C; C is 3 or 4."""
        ...


class Blur(Protocol):
    """Gaussian blur of one float32 plane; the local contrast and sharpen steps use it."""

    def blur(self, plane: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
        """H x W float32 -> H x W float32; edges replicated, ``sigma`` in pixels."""
        ...


class Denoiser(Protocol):
    """Edge-preserving noise and JPEG-artefact reduction."""

    def denoise(self, rgb: Pixels, sigma: float) -> Pixels:
        """H x W x 3 uint8 -> same shape; ``sigma`` is the noise to remove, 0-255 scale.

        Implementations should be gentle: the caller only asks when the image needs it.
        """
        ...


class Restorer(Protocol):
    """Removes noise and compression artefacts at the image's own size (learned, x1)."""

    def restore(self, rgb: Pixels) -> Pixels:
        """H x W x 3 uint8 -> same shape; clean input should come back (nearly) unchanged."""
        ...


class ToneCorrector(Protocol):
    """Global exposure, contrast, white balance and saturation, decided from a thumbnail."""

    def correct(self, rgb: Pixels, alpha: Pixels | None = None) -> Pixels:
        """H x W x 3 uint8 -> same shape; pixels with ``alpha`` < 128 do not steer it."""
        ...


class Resampler(Protocol):
    """High-quality resizing to an exact size (never nearest neighbour)."""

    def resize(self, pixels: Pixels, width: int, height: int) -> Pixels:
        """H x W x C -> height x width x C, antialiased when shrinking; C is 3 or 4."""
        ...


class FaceDetector(Protocol):
    """Finds frontal faces."""

    def detect(self, rgb: Pixels) -> list[Rect]:
        """Face boxes in ``rgb``'s pixels (H x W x 3 uint8); empty when there are none."""
        ...


class Saliency(Protocol):
    """Estimates where the eye goes."""

    def saliency(self, rgb: Pixels) -> NDArray[np.float32]:
        """H x W x 3 uint8 -> H x W float32, >= 0, larger where it matters more."""
        ...
