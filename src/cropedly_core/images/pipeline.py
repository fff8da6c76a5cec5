"""The enhancement pipeline: normalise, clean, adjust, upscale, sharpen, encode.

Normalising (orientation, colour profile to sRGB, 16 to 8 bits, alpha kept) happens in
``ImageCodec.decode`` because it needs the codec's metadata and colour engine; every
later step works on uint8 sRGB ``Pixels`` and is pure apart from its ports.
"""

from __future__ import annotations

import attrs
import numpy as np

from cropedly_core.errors import ImageRejected
from cropedly_core.images.adjust import AdjustSettings, auto_tone, clean, sharpen
from cropedly_core.images.model import (
    Adjust,
    EncodedImage,
    EnhanceOptions,
    ImageInfo,
    ImageLimits,
    Pixels,
    Raster,
)
from cropedly_core.images.ports import Blur, Denoiser, ImageCodec, Upscaler


def check_output_size(info: ImageInfo, options: EnhanceOptions, limits: ImageLimits) -> None:
    """Refuse before queuing when the upscaled result would be too large (``too-many-pixels``)."""
    pixels = info.width * info.height * options.upscale**2
    if pixels > limits.max_output_pixels:
        raise ImageRejected(
            "too-many-pixels",
            f"The result would have {pixels:,} pixels at {options.upscale}x; "
            f"the limit is {limits.max_output_pixels:,}.",
        )


def _split(pixels: Pixels) -> tuple[Pixels, Pixels | None]:
    if pixels.shape[2] == 4:
        return pixels[..., :3], pixels[..., 3]
    return pixels, None


def _merge(rgb: Pixels, alpha: Pixels | None) -> Pixels:
    if alpha is None:
        return rgb
    out = np.empty((*rgb.shape[:2], 4), dtype=np.uint8)
    out[..., :3] = rgb
    out[..., 3] = alpha
    return out


@attrs.frozen
class EnhancementPipeline:
    """Runs every step on one file; pure apart from its ports.

    ``denoiser`` and ``blur`` are keyword-only so the original positional
    ``(codec, upscaler, limits)`` order cannot silently bind them.
    """

    codec: ImageCodec
    upscaler: Upscaler
    limits: ImageLimits = attrs.field(factory=ImageLimits)
    denoiser: Denoiser = attrs.field(kw_only=True)
    blur: Blur = attrs.field(kw_only=True)
    settings: AdjustSettings = attrs.field(kw_only=True, factory=AdjustSettings)

    def run(self, data: bytes, options: EnhanceOptions) -> EncodedImage:
        raster = self.process(self.codec.decode(data, self.limits.max_pixels), options)
        return self.codec.encode(raster, options.format, options.quality)

    def process(self, raster: Raster, options: EnhanceOptions) -> Raster:
        check_output_size(
            ImageInfo(raster.source_format, raster.width, raster.height), options, self.limits
        )
        auto = options.adjust is Adjust.AUTO
        pixels = raster.pixels
        if auto:
            rgb, alpha = _split(pixels)
            rgb = clean(rgb, self.denoiser, raster.source_format, self.settings)
            if raster.grey:
                # Colour denoisers may nudge channels apart; grey must stay grey.
                rgb = np.repeat(rgb[..., 1:2], 3, axis=2)
            rgb = auto_tone(rgb, self.blur, self.settings, alpha=alpha, grey=raster.grey)
            pixels = _merge(rgb, alpha)
        if options.upscale > 1:
            pixels = self.upscaler.upscale(pixels, options.upscale)
        if auto:
            rgb, alpha = _split(pixels)
            pixels = _merge(sharpen(rgb, self.blur, options.upscale, self.settings), alpha)
        return attrs.evolve(raster, pixels=pixels)
