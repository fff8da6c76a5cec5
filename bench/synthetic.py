"""Synthetic photographs for the documentation's examples.

The data sets under ../shared may not be copied into the project's history, not
even as thumbnails, so every picture committed under docs/img is made here.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = (360, 240)


def scene(
    sky_top: tuple[int, int, int] = (90, 140, 200),
    sky_bottom: tuple[int, int, int] = (200, 215, 225),
    hills: tuple[int, int, int] = (60, 110, 60),
    sun: tuple[int, int, int] = (250, 250, 230),
    seed: int = 1,
    *,
    people: bool = False,
) -> Image.Image:
    """A landscape: graded sky, a sun, two hill lines, texture; optionally a face and a grey card."""
    w, h = SIZE
    t = np.linspace(0, 1, h)[:, None, None]
    sky = (1 - t) * np.array(sky_top) + t * np.array(sky_bottom)
    image = Image.fromarray(np.broadcast_to(sky, (h, w, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((250, 40, 300, 90), fill=sun)
    rng = np.random.default_rng(seed)
    for level, shade in ((150, 1.0), (185, 0.7)):
        xs = np.arange(0, w + 20, 20)
        ys = level + rng.integers(-18, 18, size=xs.size)
        colour = tuple(int(c * shade) for c in hills)
        draw.polygon([(0, h), *zip(xs.tolist(), ys.tolist(), strict=True), (w, h)], fill=colour)
    if people:
        draw.rectangle((40, 150, 110, 240), fill=(40, 60, 120))  # a coat
        draw.ellipse((52, 95, 98, 150), fill=(224, 172, 140))  # a face, in a skin tone
        draw.rectangle((150, 175, 200, 225), fill=(128, 128, 128))  # a grey card
        draw.rectangle((205, 175, 255, 225), fill=(235, 235, 235))  # a white card
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    noise = rng.normal(0, 4, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))
