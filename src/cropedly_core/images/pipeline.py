"""The enhancement pipeline: normalise, clean, adjust, upscale, sharpen, encode."""

from __future__ import annotations

import attrs

from cropedly_core.images.model import EncodedImage, EnhanceOptions, ImageLimits, Raster
from cropedly_core.images.ports import ImageCodec, Upscaler


@attrs.frozen
class EnhancementPipeline:
    """Runs every step on one file; pure apart from its ports."""

    codec: ImageCodec
    upscaler: Upscaler
    limits: ImageLimits = ImageLimits()

    def run(self, data: bytes, options: EnhanceOptions) -> EncodedImage:
        raster = self.codec.decode(data, self.limits.max_pixels)
        raster = self.process(raster, options)
        return self.codec.encode(raster, options.format, options.quality)

    def process(self, raster: Raster, options: EnhanceOptions) -> Raster:
        pixels = raster.pixels
        if options.upscale > 1:
            pixels = self.upscaler.upscale(pixels, options.upscale)
        return attrs.evolve(raster, pixels=pixels)
