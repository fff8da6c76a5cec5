"""A pipeline for worker tests whose codec sleeps or crashes on marked input.

Module-level and importable by name so that spawn-started worker processes can
unpickle ``marker_pipeline`` (they inherit the parent's ``sys.path``, which
holds this folder while pytest runs).

Input starting with ``SLEEP:<seconds>:`` sleeps that long before reading the
rest; ``CRASH:`` ends the worker process at once, as a decoder segfault would.
Anything else is an ordinary image for the real Pillow codec.
"""

from __future__ import annotations

import os
import time

import attrs

from cropedly_adapters.image_pipeline import default_pipeline
from cropedly_adapters.pillow_codec import PillowCodec
from cropedly_core.images.model import EncodedImage, ImageInfo, OutputFormat, Raster
from cropedly_core.images.pipeline import EnhancementPipeline

CRASH = b"CRASH:"


def sleeping(seconds: float, image: bytes) -> bytes:
    """``image`` marked so that reading it first sleeps ``seconds``."""
    return b"SLEEP:%.3f:" % seconds + image


class MarkerCodec:
    """``PillowCodec`` that obeys the markers above when it reads a header."""

    def __init__(self) -> None:
        self._inner = PillowCodec()

    def probe(self, data: bytes, max_pixels: int) -> ImageInfo:
        if data.startswith(CRASH):
            os._exit(70)
        if data.startswith(b"SLEEP:"):
            _, seconds, _ = data.split(b":", 2)
            time.sleep(float(seconds))
        return self._inner.probe(_image(data), max_pixels)

    def decode(self, data: bytes, max_pixels: int) -> Raster:
        return self._inner.decode(_image(data), max_pixels)

    def encode(self, raster: Raster, fmt: OutputFormat, quality: int | None) -> EncodedImage:
        return self._inner.encode(raster, fmt, quality)

    def transcode(
        self, data: bytes, max_pixels: int, fmt: OutputFormat, quality: int | None
    ) -> EncodedImage:
        return self._inner.transcode(_image(data), max_pixels, fmt, quality)


def _image(data: bytes) -> bytes:
    return data.split(b":", 2)[2] if data.startswith(b"SLEEP:") else data


def marker_pipeline() -> EnhancementPipeline:
    """The default pipeline (Lanczos) with ``MarkerCodec``; runs inside each worker."""
    return attrs.evolve(default_pipeline(), codec=MarkerCodec())
