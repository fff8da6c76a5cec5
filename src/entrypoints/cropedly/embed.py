"""``cropedly.enhance``: one image in, one enhanced image out, in this process.

The common case for an app that embeds Cropedly and wants no accounts, storage or
HTTP: the same checks (size, pixels, output limit) and the same pipeline as the
server, on the learned upscaler unless ``upscaler="lanczos"`` is asked for.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Literal

import attrs

from cropedly.bootstrap import worker_pipeline
from cropedly.settings import UpscalerKind
from cropedly_core.errors import BatchRejected, ImageRejected
from cropedly_core.images.geometry import Resize
from cropedly_core.images.model import (
    Adjust,
    EncodedImage,
    EnhanceOptions,
    ImageLimits,
    OutputFormat,
    Restore,
)
from cropedly_core.images.pipeline import EnhancementPipeline
from cropedly_core.images.service import Upload, check_batch, run_job

EnhancedImage = EncodedImage
"""The result: ``data`` (encoded bytes), ``mime_type``, ``extension``, ``width``, ``height``."""

_PIPELINES: dict[tuple[UpscalerKind, ImageLimits], EnhancementPipeline] = {}
_LOCK = threading.Lock()


def _pipeline(upscaler: UpscalerKind, limits: ImageLimits) -> EnhancementPipeline:
    # Loading the model takes a moment; later calls reuse it.
    with _LOCK:
        key = (upscaler, limits)
        if key not in _PIPELINES:
            _PIPELINES[key] = worker_pipeline(upscaler, 1, limits)
        return _PIPELINES[key]


def enhance(
    image: bytes | str | os.PathLike[str],
    *,
    upscale: Literal[1, 2, 4] = 1,
    adjust: Literal["auto", "none"] = "auto",
    restore: Literal["auto", "none"] = "auto",
    format: Literal["auto", "jpeg", "png", "webp", "avif"] = "auto",  # noqa: A002 - the API's name
    quality: int | None = None,
    resize: Resize | None = None,
    upscaler: Literal["onnx", "lanczos"] = "onnx",
    limits: ImageLimits | None = None,
) -> EnhancedImage:
    """Enhance one image given as bytes or a file path.

    Raises ``cropedly_core.errors.ImageRejected`` (with a ``slug`` such as
    ``unsupported-format`` or ``too-many-pixels``) for a file the service would
    refuse, ``InvalidInput`` for a bad option, and ``OSError`` for an unreadable path.
    ``resize`` (``cropedly.Resize(width=..., height=..., fit=..., crop=...)``) resizes
    and crops to a target, as the HTTP fields of the same names do; it replaces
    ``upscale``.
    """
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    options = EnhanceOptions(
        upscale=upscale,
        adjust=Adjust(adjust),
        format=OutputFormat(format),
        quality=quality,
        restore=Restore(restore),
        resize=resize,
    )
    limits = limits or ImageLimits()
    try:
        check_batch([Upload("image", data)], attrs.evolve(limits, max_files=1))
    except BatchRejected as exc:
        (problem,) = exc.problems
        raise ImageRejected(problem.slug, problem.detail) from None
    return run_job(_pipeline(UpscalerKind(upscaler), limits), data, options).image
