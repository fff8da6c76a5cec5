"""The enhancement pipeline: normalise, restore, adjust, upscale, (sharpen), encode.

``restore`` (noise and compression artefacts) and ``adjust`` (exposure, contrast,
white balance, saturation) are separate steps a caller switches on and off. Each has
a learned adapter (``Restorer``, ``ToneCorrector``); without one the classic steps
(a denoiser, hand-tuned curves, local contrast and sharpening) stand in.

Normalising (orientation, colour profile to sRGB, 16 to 8 bits, alpha kept) happens in
``ImageCodec.decode`` because it needs the codec's metadata and colour engine; every
later step works on uint8 sRGB ``Pixels`` and is pure apart from its ports.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import numpy as np

from cropedly_core.errors import ImageRejected
from cropedly_core.images.adjust import AdjustSettings, auto_tone, clean, plan_clean, sharpen
from cropedly_core.images.framing import Framing, check_resize, pad, plan_frame, sharpen_factor
from cropedly_core.images.geometry import upscale_factor
from cropedly_core.images.model import (
    Adjust,
    EncodedImage,
    EnhanceOptions,
    ImageInfo,
    ImageLimits,
    Pixels,
    Raster,
    Restore,
)
from cropedly_core.images.ports import (
    Blur,
    Denoiser,
    ImageCodec,
    Restorer,
    ToneCorrector,
    Upscaler,
)


def check_output_size(info: ImageInfo, options: EnhanceOptions, limits: ImageLimits) -> None:
    """Refuse before queuing when the upscaled result would be too large (``too-many-pixels``)."""
    if options.resize is not None:
        check_resize(info, options.resize, limits)
        return
    pixels = info.width * info.height * options.upscale**2
    if pixels > limits.max_output_pixels:
        raise ImageRejected(
            "too-many-pixels",
            f"The result would have {pixels:,} pixels at {options.upscale}x; "
            f"the limit is {limits.max_output_pixels:,}.",
        )


@contextmanager
def timed(timings: dict[str, float] | None, step: str) -> Iterator[None]:
    """Add the seconds the block took to ``timings[step]`` (nothing when ``timings`` is None).

    ``perf_counter``, not the ``Clock`` port: a duration for the operator's metrics,
    never a time the domain decides anything on.
    """
    if timings is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - started


def _changes_no_pixel(options: EnhanceOptions) -> bool:
    return (
        options.upscale == 1
        and options.resize is None
        and options.restore is Restore.NONE
        and options.adjust is Adjust.NONE
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
    ``(codec, upscaler, limits)`` order cannot silently bind them. ``restorer`` and
    ``toner`` are the learned steps; left ``None``, the classic ones run instead.
    """

    codec: ImageCodec
    upscaler: Upscaler
    limits: ImageLimits = attrs.field(factory=ImageLimits)
    denoiser: Denoiser = attrs.field(kw_only=True)
    blur: Blur = attrs.field(kw_only=True)
    settings: AdjustSettings = attrs.field(kw_only=True, factory=AdjustSettings)
    restorer: Restorer | None = attrs.field(kw_only=True, default=None)
    toner: ToneCorrector | None = attrs.field(kw_only=True, default=None)
    framing: Framing = attrs.field(kw_only=True)

    def run(self, data: bytes, options: EnhanceOptions) -> EncodedImage:
        if _changes_no_pixel(options):
            # Only a new format, quality or metadata-free copy: the codec's direct path.
            result = self.codec.transcode(
                data, self.limits.max_pixels, options.format, options.quality
            )
            info = ImageInfo("", result.width, result.height)
            check_output_size(info, options, self.limits)
            return result
        raster = self.process(self.codec.decode(data, self.limits.max_pixels), options)
        return self.codec.encode(raster, options.format, options.quality)

    def process(
        self, raster: Raster, options: EnhanceOptions, timings: dict[str, float] | None = None
    ) -> Raster:
        """Every step after decoding; each one's seconds are added to ``timings`` if given."""
        check_output_size(
            ImageInfo(raster.source_format, raster.width, raster.height), options, self.limits
        )
        restore = options.restore is Restore.AUTO
        adjust = options.adjust is Adjust.AUTO
        classic = adjust and self.toner is None
        pixels = raster.pixels
        resize = options.resize
        layout = None if resize is None else plan_frame(raster.width, raster.height, resize)
        factor = options.upscale
        if layout is not None:
            # Cut first: only kept pixels are restored, adjusted and upscaled.
            with timed(timings, "frame"):
                pixels = self.framing.cut(pixels, layout)
            factor = upscale_factor(layout)
        if restore or adjust:
            pixels = self._restore_and_adjust(
                pixels, raster, restore=restore, adjust=adjust, timings=timings
            )
        if factor > 1:
            with timed(timings, "upscale"):
                pixels = self.upscaler.upscale(pixels, factor)
        if layout is not None:
            with timed(timings, "frame"):
                pixels = self.framing.resample(pixels, layout)
            factor = sharpen_factor(layout)
        if classic:
            # The learned path leaves detail to the restorer and the upscaler: an
            # unsharp mask after them would turn leftover noise into grain.
            with timed(timings, "sharpen"):
                rgb, alpha = _split(pixels)
                pixels = _merge(sharpen(rgb, self.blur, factor, self.settings), alpha)
        if layout is not None and resize is not None:
            with timed(timings, "frame"):
                pixels = pad(pixels, layout, resize.background)
            if not resize.background.grey and layout.canvas != layout.scaled:
                return attrs.evolve(raster, pixels=pixels, grey=False)
        return attrs.evolve(raster, pixels=pixels)

    def _restore_and_adjust(
        self,
        pixels: Pixels,
        raster: Raster,
        *,
        restore: bool,
        adjust: bool,
        timings: dict[str, float] | None = None,
    ) -> Pixels:
        rgb, alpha = _split(pixels)
        if restore:
            with timed(timings, "restore"):
                rgb = self._restore(rgb, raster.source_format)
                if raster.grey:
                    # Colour denoisers may nudge channels apart; grey must stay grey.
                    rgb = np.repeat(rgb[..., 1:2], 3, axis=2)
        if adjust:
            with timed(timings, "adjust"):
                if self.toner is not None:
                    rgb = self.toner.correct(rgb, alpha)
                    if raster.grey:
                        rgb = np.repeat(rgb[..., 1:2], 3, axis=2)
                else:
                    rgb = auto_tone(rgb, self.blur, self.settings, alpha=alpha, grey=raster.grey)
        return _merge(rgb, alpha)

    def _restore(self, rgb: Pixels, source_format: str) -> Pixels:
        if self.restorer is None:
            return clean(rgb, self.denoiser, source_format, self.settings)
        # The codec's cheap noise and blocking estimate steers the network: an image
        # that shows neither is passed through untouched, so clean input keeps every
        # bit of the upscaler's gain.
        plan = plan_clean(rgb, source_format, self.settings)
        if plan.sigma <= 0 and plan.blockiness < self.settings.learned_blockiness_threshold:
            return rgb
        return self.restorer.restore(np.ascontiguousarray(rgb))
