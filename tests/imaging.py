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
