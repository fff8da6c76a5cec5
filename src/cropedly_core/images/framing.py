"""The resize-to-target steps of the pipeline: plan, cut, resample, pad.

Kept apart from ``pipeline.py`` so the enhancement steps and the geometry steps can
change independently; the pipeline calls ``plan_frame``, ``cut``, ``resample`` and ``pad``
around its own steps (cut before cleaning, so only kept pixels are processed;
resample after the learned upscaler; pad last, so margins are never sharpened).
"""

from __future__ import annotations

import attrs
import numpy as np

from cropedly_core.errors import ImageRejected, InvalidInput
from cropedly_core.images.crop import place_window
from cropedly_core.images.geometry import Background, Layout, Resize, output_pixels, plan_layout
from cropedly_core.images.model import ImageInfo, ImageLimits, Pixels
from cropedly_core.images.ports import FaceDetector, Resampler, Saliency


def plan_frame(width: int, height: int, resize: Resize) -> Layout:
    """The layout; a crop rectangle outside the image is this file's problem (422)."""
    try:
        return plan_layout(width, height, resize)
    except InvalidInput as exc:
        raise ImageRejected("crop-outside-image", exc.detail) from exc


def check_resize(info: ImageInfo, resize: Resize, limits: ImageLimits) -> None:
    """Refuse up front (``too-many-pixels``) when the output or the upscaled window is too big."""
    peak, final = output_pixels(plan_frame(info.width, info.height, resize))
    if peak > limits.max_output_pixels:
        raise ImageRejected(
            "too-many-pixels",
            f"Resizing to this target needs {peak:,} pixels (result {final:,}); "
            f"the limit is {limits.max_output_pixels:,}.",
        )


@attrs.frozen
class Framing:
    """The ports the resize and crop steps use.

    Attributes:
        resampler: exact-size, antialiased resizing.
        saliency: where the eye goes, for ``smart`` crops.
        faces: face boxes, for ``smart`` and ``faces`` crops.
    """

    resampler: Resampler
    saliency: Saliency
    faces: FaceDetector

    def cut(self, pixels: Pixels, layout: Layout) -> Pixels:
        """The region, then the window placed in it."""
        r = layout.region
        if layout.needs_placement:
            r = place_window(
                pixels,
                layout.region,
                layout.window,
                layout.placement,
                resampler=self.resampler,
                saliency=self.saliency,
                faces=self.faces,
            )
        return np.ascontiguousarray(pixels[r.y : r.bottom, r.x : r.right])

    def resample(self, pixels: Pixels, layout: Layout) -> Pixels:
        """To the exact scaled size (no work when it already is)."""
        sw, sh = layout.scaled
        if pixels.shape[1] == sw and pixels.shape[0] == sh:
            return pixels
        return self.resampler.resize(pixels, sw, sh)


def sharpen_factor(layout: Layout) -> int:
    """The enlargement the sharpening radius should follow (1 when shrinking)."""
    return max(1, round(layout.enlargement))


def pad(pixels: Pixels, layout: Layout, background: Background) -> Pixels:
    """The scaled window on a canvas of the background colour (``pad`` fit)."""
    cw, ch = layout.canvas
    if (pixels.shape[1], pixels.shape[0]) == (cw, ch):
        return pixels
    channels = 4 if background.transparent or pixels.shape[2] == 4 else 3
    colour = (background.r, background.g, background.b, background.a)[:channels]
    canvas = np.empty((ch, cw, channels), dtype=np.uint8)
    canvas[...] = np.asarray(colour, dtype=np.uint8)
    ox, oy = layout.offset
    h, w = pixels.shape[:2]
    target = canvas[oy : oy + h, ox : ox + w]
    target[..., : pixels.shape[2]] = pixels
    if channels == 4 and pixels.shape[2] == 3:
        target[..., 3] = 255
    return canvas
