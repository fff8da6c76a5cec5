"""Format policy: what is accepted, and what ``format=auto`` turns each input into."""

from __future__ import annotations

import attrs

from cropedly_core.images.model import OutputFormat

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "AVIF", "HEIF"})
"""Input allow-list, as format names decided from the bytes."""

# GIF (256 colours), BMP and TIFF (no compression worth having on the web) become
# PNG, which keeps their alpha losslessly; HEIC becomes JPEG because browsers outside
# Safari cannot show it.
_AUTO: dict[str, OutputFormat] = {
    "JPEG": OutputFormat.JPEG,
    "MPO": OutputFormat.JPEG,
    "PNG": OutputFormat.PNG,
    "WEBP": OutputFormat.WEBP,
    "AVIF": OutputFormat.AVIF,
    "GIF": OutputFormat.PNG,
    "BMP": OutputFormat.PNG,
    "TIFF": OutputFormat.PNG,
    "HEIF": OutputFormat.JPEG,
}


@attrs.frozen
class FormatTraits:
    mime_type: str
    extension: str
    supports_alpha: bool
    default_quality: int | None


TRAITS: dict[OutputFormat, FormatTraits] = {
    OutputFormat.JPEG: FormatTraits("image/jpeg", "jpg", supports_alpha=False, default_quality=90),
    OutputFormat.PNG: FormatTraits("image/png", "png", supports_alpha=True, default_quality=None),
    OutputFormat.WEBP: FormatTraits("image/webp", "webp", supports_alpha=True, default_quality=90),
    OutputFormat.AVIF: FormatTraits("image/avif", "avif", supports_alpha=True, default_quality=80),
}


def resolve_output_format(source_format: str, requested: OutputFormat) -> OutputFormat:
    """``AUTO`` keeps the input's family; anything else is taken as asked."""
    if requested is not OutputFormat.AUTO:
        return requested
    return _AUTO.get(source_format.upper(), OutputFormat.PNG)
