"""Placing the crop window (smart, faces, center) and the resize steps of the pipeline."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from cropedly_adapters.memory_images import (
    BoxBlur,
    ContrastSaliency,
    FixedFaces,
    IndexResampler,
    MeanDenoiser,
    NearestUpscaler,
)
from cropedly_adapters.pillow_codec import PillowCodec
from cropedly_core.errors import ImageRejected, InvalidInput
from cropedly_core.images.crop import place_window
from cropedly_core.images.framing import Framing
from cropedly_core.images.geometry import (
    Background,
    Crop,
    Fit,
    Rect,
    Resize,
    plan_layout,
)
from cropedly_core.images.model import (
    Adjust,
    EnhanceOptions,
    ImageInfo,
    ImageLimits,
    OutputFormat,
    Restore,
)
from cropedly_core.images.pipeline import EnhancementPipeline, check_output_size


def _scene(width: int, height: int, blob: Rect) -> np.ndarray:
    """Grey background with one bright, colourful block: the subject."""
    pixels = np.full((height, width, 3), 110, np.uint8)
    pixels[blob.y : blob.bottom, blob.x : blob.right] = (240, 40, 40)
    return pixels


def _place(
    pixels: np.ndarray, window: tuple[int, int], mode: Crop, faces: list[Rect] | None = None
) -> Rect:
    h, w = pixels.shape[:2]
    return place_window(
        pixels,
        Rect(0, 0, w, h),
        window,
        mode,
        resampler=IndexResampler(),
        saliency=ContrastSaliency(),
        faces=FixedFaces(faces, size=(w, h)),
    )


class TestPlacement:
    def test_smart_keeps_the_salient_subject(self) -> None:
        """A subject at the right edge is kept by smart and lost by center."""
        subject = Rect(330, 100, 60, 60)
        pixels = _scene(400, 300, subject)
        smart = _place(pixels, (200, 300), Crop.SMART)
        center = _place(pixels, (200, 300), Crop.CENTER)
        assert smart.x <= subject.x
        assert smart.right >= subject.right
        assert center.right < subject.x

    def test_faces_kept_whole_with_headroom(self) -> None:
        """A face near the top is kept whole, with room above it when there is some."""
        face = Rect(250, 60, 40, 40)
        pixels = _scene(400, 300, Rect(20, 200, 40, 40))  # a distraction elsewhere
        window = _place(pixels, (300, 150), Crop.SMART, [face])
        assert window.x <= face.x
        assert window.right >= face.right
        assert window.y <= face.y - 15
        assert window.bottom >= face.bottom

    def test_faces_mode_centres_on_all_faces(self) -> None:
        """faces centres the window on the faces when they fit together."""
        faces = [Rect(20, 100, 30, 30), Rect(120, 110, 30, 30)]
        pixels = _scene(600, 300, Rect(500, 50, 60, 60))  # salient, but not a face
        window = _place(pixels, (300, 300), Crop.FACES, faces)
        assert window.x <= 20
        assert window.right >= 150

    def test_faces_without_faces_is_smart(self) -> None:
        """No face found: faces falls back to smart."""
        pixels = _scene(400, 300, Rect(330, 100, 60, 60))
        assert _place(pixels, (200, 300), Crop.SMART) == _place(pixels, (200, 300), Crop.FACES)

    @given(
        st.integers(2, 300),
        st.integers(2, 300),
        st.integers(1, 300),
        st.integers(1, 300),
        st.sampled_from(list(Crop)),
        st.lists(st.tuples(st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0.05, 0.5)), max_size=3),
    )
    def test_window_always_inside(
        self, w: int, h: int, bw: int, bh: int, mode: Crop, boxes: list[tuple[float, float, float]]
    ) -> None:
        """Whatever the picture, faces and box, the window has the planned size and is inside."""
        rng = np.random.default_rng(w * 1000 + h)
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        layout = plan_layout(w, h, Resize(width=bw, height=bh, fit=Fit.COVER))
        faces = [
            Rect(int(x * w), int(y * h), max(1, int(s * w)), max(1, int(s * h)))
            for x, y, s in boxes
        ]
        window = _place(pixels, layout.window, mode, faces)
        assert layout.window == (window.w, window.h)
        assert window.inside(w, h)


PIPELINE = EnhancementPipeline(
    PillowCodec(),
    NearestUpscaler(),
    denoiser=MeanDenoiser(),
    blur=BoxBlur(),
    framing=Framing(IndexResampler(), ContrastSaliency(), FixedFaces()),
)


def _png(pixels: np.ndarray, exif_orientation: int | None = None) -> bytes:
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    if exif_orientation is None:
        image.save(buffer, "PNG")
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image.convert("RGB").save(buffer, "JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def _run(data: bytes, **resize: object) -> np.ndarray:
    options = EnhanceOptions(
        adjust=Adjust.NONE, restore=Restore.NONE, format=OutputFormat.PNG, resize=Resize(**resize)
    )  # type: ignore[arg-type]
    result = PIPELINE.run(data, options)
    out = np.asarray(Image.open(io.BytesIO(result.data)))
    assert (result.width, result.height) == (out.shape[1], out.shape[0])
    return out


class TestPipeline:
    @pytest.mark.parametrize("fit", list(Fit))
    @pytest.mark.parametrize(("bw", "bh"), [(7, 5), (40, 30), (13, 90)])
    def test_every_fit_answers_its_size(self, fit: Fit, bw: int, bh: int) -> None:
        """The encoded result has the planned size for every fit, shrinking or enlarging."""
        pixels = _scene(24, 18, Rect(2, 2, 5, 5))
        out = _run(_png(pixels), width=bw, height=bh, fit=fit)
        assert plan_layout(24, 18, Resize(width=bw, height=bh, fit=fit)).canvas == (
            out.shape[1],
            out.shape[0],
        )

    def test_orientation_applies_before_the_crop_rectangle(self) -> None:
        """x,y,w,h is read on the upright picture (EXIF orientation 6 here)."""
        upright = np.full((40, 80, 3), 30, np.uint8)
        upright[:20, :20] = (250, 250, 250)  # top-left as displayed
        stored = np.ascontiguousarray(np.rot90(upright, 1))  # rotated back, as a camera stores it
        out = _run(_png(stored, exif_orientation=6), crop=Rect(0, 0, 16, 16))
        assert (16, 16) == (out.shape[1], out.shape[0])
        assert out.min() > 200

    @pytest.mark.parametrize("orientation", range(1, 9))
    def test_every_orientation_reads_the_rectangle_upright(self, orientation: int) -> None:
        """For all eight EXIF orientations, x,y,w,h and the size are those of the displayed picture."""
        upright = np.full((40, 80, 3), 30, np.uint8)
        upright[:20, :20] = (250, 250, 250)
        # The inverse of what each orientation asks the viewer to do.
        inverse = {
            2: Image.Transpose.FLIP_LEFT_RIGHT,
            3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_90,
            7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_270,
        }
        image = Image.fromarray(upright)
        if orientation in inverse:
            image = image.transpose(inverse[orientation])
        stored = np.asarray(image)
        corner = _run(_png(stored, exif_orientation=orientation), crop=Rect(0, 0, 16, 16))
        assert corner.min() > 200
        whole = _run(_png(stored, exif_orientation=orientation), width=40, height=20, fit=Fit.FILL)
        assert (20, 40) == whole.shape[:2]
        assert whole[:8, :8].min() > 200

    def test_pad_with_transparency_and_colour(self) -> None:
        """pad puts the picture in the middle; margins are transparent or the colour asked."""
        pixels = np.full((10, 20, 3), 200, np.uint8)
        clear = _run(_png(pixels), width=20, height=20, fit=Fit.PAD)
        assert (20, 20, 4) == clear.shape
        assert 0 == clear[0, 0, 3]
        assert 255 == clear[10, 10, 3]
        blue = _run(
            _png(pixels), width=20, height=20, fit=Fit.PAD, background=Background(0, 0, 255, 255)
        )
        assert (0, 0, 255) == tuple(blue[0, 0, :3])

    def test_rectangle_outside_is_a_file_problem(self) -> None:
        """A rectangle past the (upright) image is this file's 422, found before decoding."""
        with pytest.raises(ImageRejected) as caught:
            check_output_size(
                ImageInfo("PNG", 20, 10),
                EnhanceOptions(resize=Resize(crop=Rect(15, 0, 10, 5))),
                ImageLimits(),
            )
        assert "crop-outside-image" == caught.value.slug

    def test_too_large_target_refused_up_front(self) -> None:
        """A target past the pixel limit, or whose upscaled window is, is refused before work."""
        limits = ImageLimits(max_output_pixels=10_000)
        with pytest.raises(ImageRejected) as caught:
            check_output_size(
                ImageInfo("PNG", 30, 30), EnhanceOptions(resize=Resize(width=90, height=90)), limits
            )
        assert "too-many-pixels" == caught.value.slug

    def test_upscale_and_resize_are_alternatives(self) -> None:
        with pytest.raises(InvalidInput):
            EnhanceOptions(upscale=2, resize=Resize(width=10))
