"""Composition of the real enhancement pipeline (the lead's composition root calls this)."""

from __future__ import annotations

from cropedly_adapters.lanczos_upscaler import LanczosUpscaler
from cropedly_adapters.opencv_faces import OpenCvFaceDetector
from cropedly_adapters.opencv_filters import OpenCvBlur, OpenCvDenoiser
from cropedly_adapters.opencv_saliency import OpenCvSaliency
from cropedly_adapters.pillow_codec import PillowCodec
from cropedly_adapters.pillow_resampler import PillowResampler
from cropedly_core.images.framing import Framing
from cropedly_core.images.model import ImageLimits
from cropedly_core.images.pipeline import EnhancementPipeline
from cropedly_core.images.ports import Restorer, ToneCorrector, Upscaler


def default_pipeline(
    upscaler: Upscaler | None = None,
    limits: ImageLimits | None = None,
    *,
    restorer: Restorer | None = None,
    toner: ToneCorrector | None = None,
) -> EnhancementPipeline:
    """PillowCodec, OpenCV filters and Lanczos unless other steps (the learned ones) are given."""
    return EnhancementPipeline(
        codec=PillowCodec(),
        upscaler=upscaler if upscaler is not None else LanczosUpscaler(),
        limits=limits if limits is not None else ImageLimits(),
        denoiser=OpenCvDenoiser(),
        blur=OpenCvBlur(),
        restorer=restorer,
        toner=toner,
        framing=Framing(
            resampler=PillowResampler(), saliency=OpenCvSaliency(), faces=OpenCvFaceDetector()
        ),
    )
