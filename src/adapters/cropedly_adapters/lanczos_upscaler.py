"""The classic Upscaler: Pillow's Lanczos filter."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cropedly_core.images.model import Pixels


class LanczosUpscaler:
    """Lanczos-3 enlargement. For RGBA Pillow resamples premultiplied (RGBa), so the
    colour of fully transparent pixels cannot bleed into visible edges."""

    def upscale(self, pixels: Pixels, factor: int) -> Pixels:
        h, w, c = pixels.shape
        image = Image.fromarray(np.ascontiguousarray(pixels), "RGBA" if c == 4 else "RGB")
        resized = image.resize((w * factor, h * factor), Image.Resampling.LANCZOS)
        del image
        return np.asarray(resized)
