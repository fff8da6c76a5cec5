"""Helpers shared by the image tests: small test images and logged-in accounts."""

from __future__ import annotations

import io

from PIL import Image

from cropedly.bootstrap import Services
from cropedly_core.users import Plan

PASSWORD = "correct horse battery 9"


def bearer(services: Services, email: str, plan: Plan) -> dict[str, str]:
    """Register ``email`` on ``plan`` and return its Authorization header."""
    services.accounts.register(email, PASSWORD, "Image Tester", plan)
    token = services.accounts.login(email, PASSWORD).token
    return {"Authorization": f"Bearer {token}"}


def png_bytes(width: int = 8, height: int = 6, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    """A small image with some structure (a gradient), encoded in ``fmt``."""
    image = Image.linear_gradient("L").resize((width, height)).convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def animated_gif(frames: int, side: int) -> bytes:
    """A GIF of ``frames`` full ``side`` x ``side`` frames, alternately black and white.

    Pillow's ``save_all`` writes the first pairs; the repeating pair of frames is then
    copied, because saving 1,500 megapixel frames with Pillow takes about 20 s.
    """
    dark, light = Image.new("L", (side, side), 0), Image.new("L", (side, side), 255)

    def save(*images: Image.Image) -> bytes:
        out = io.BytesIO()
        images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
        return out.getvalue()

    two, four = save(dark, light), save(dark, light, dark, light)
    head = two[:-1]  # without the trailer
    assert four.startswith(head)
    assert four.endswith(b";")
    pair = four[len(head) : -1]
    return head + pair * ((frames - 2) // 2) + b";"
