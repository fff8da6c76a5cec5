"""Resize-to-target geometry: exact sizes for every fit, windows inside the image."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cropedly_core.errors import InvalidInput
from cropedly_core.images.geometry import (
    MAX_SIDE,
    Background,
    Crop,
    Fit,
    Layout,
    Rect,
    Resize,
    output_pixels,
    parse_aspect,
    parse_background,
    parse_crop,
    plan_layout,
    upscale_factor,
)

sides = st.integers(1, 3000)
aspects = st.tuples(st.integers(1, 40), st.integers(1, 40)).filter(
    lambda a: max(a[0] / a[1], a[1] / a[0]) <= 100
)


def _inside(layout: Layout, width: int, height: int) -> None:
    assert layout.region.inside(width, height)
    ww, wh = layout.window
    assert 1 <= ww <= layout.region.w
    assert 1 <= wh <= layout.region.h
    cw, ch = layout.canvas
    sw, sh = layout.scaled
    ox, oy = layout.offset
    assert 0 <= ox <= cw - sw
    assert 0 <= oy <= ch - sh


class TestExactSizes:
    @given(sides, sides, sides, sides, st.sampled_from([Fit.COVER, Fit.FILL, Fit.PAD]))
    def test_a_box_is_met_exactly(self, w: int, h: int, bw: int, bh: int, fit: Fit) -> None:
        """cover, fill and pad answer exactly width x height, whatever the source."""
        layout = plan_layout(w, h, Resize(width=bw, height=bh, fit=fit))
        assert (bw, bh) == layout.canvas
        _inside(layout, w, h)

    @given(sides, sides, sides, sides)
    def test_contain_fits_inside_and_touches_the_box(
        self, w: int, h: int, bw: int, bh: int
    ) -> None:
        """contain keeps the aspect (to a pixel) and fills one side of the box."""
        layout = plan_layout(w, h, Resize(width=bw, height=bh, fit=Fit.CONTAIN))
        sw, sh = layout.canvas
        assert sw <= bw
        assert sh <= bh
        assert sw == bw or sh == bh
        # Rounding moves a side by at most half a pixel of the other side's scale.
        assert abs(sw * h - sh * w) <= max(w, h)
        _inside(layout, w, h)

    @given(sides, sides, sides)
    def test_one_side_keeps_the_aspect(self, w: int, h: int, side: int) -> None:
        """width alone sets the width exactly; the height follows the aspect."""
        layout = plan_layout(w, h, Resize(width=side))
        assert side == layout.canvas[0]
        assert abs(layout.canvas[1] - h * side / w) <= 1 or layout.canvas[1] in (1, MAX_SIDE)

    @given(sides, sides, aspects)
    def test_aspect_alone_crops_the_largest_window(
        self, w: int, h: int, aspect: tuple[int, int]
    ) -> None:
        """An aspect alone keeps the largest window of that shape, unscaled."""
        layout = plan_layout(w, h, Resize(aspect=aspect))
        ww, wh = layout.window
        assert layout.window == layout.canvas
        assert ww == w or wh == h
        # Within a pixel of the asked shape.
        assert abs(ww * aspect[1] - wh * aspect[0]) <= max(aspect)
        _inside(layout, w, h)

    @given(sides, sides, aspects)
    def test_aspect_pad_holds_the_whole_image(
        self, w: int, h: int, aspect: tuple[int, int]
    ) -> None:
        """fit=pad with an aspect alone pads around the unscaled image."""
        layout = plan_layout(w, h, Resize(aspect=aspect, fit=Fit.PAD))
        assert (w, h) == layout.scaled
        assert layout.canvas[0] >= w
        assert layout.canvas[1] >= h
        _inside(layout, w, h)

    @given(sides, sides, st.integers(1, 500), aspects)
    def test_width_and_aspect_give_the_height(
        self, w: int, h: int, side: int, aspect: tuple[int, int]
    ) -> None:
        """width with an aspect sets the height to match, exactly met by cover.

        An aspect that would make the height exceed MAX_SIDE is refused rather than
        clamped to another aspect (hypothesis found 410 wide at 1:40).
        """
        if round(side * aspect[1] / aspect[0]) > MAX_SIDE:
            with pytest.raises(InvalidInput):
                Resize(width=side, aspect=aspect, fit=Fit.COVER)
            return
        layout = plan_layout(w, h, Resize(width=side, aspect=aspect, fit=Fit.COVER))
        assert side == layout.canvas[0]
        assert abs(layout.canvas[1] - side * aspect[1] / aspect[0]) <= 1 or layout.canvas[1] == 1


class TestExplicitCrop:
    @given(st.data(), sides, sides)
    def test_a_rectangle_inside_is_the_region(self, data: st.DataObject, w: int, h: int) -> None:
        """An explicit rectangle inside the image is kept as it is."""
        x = data.draw(st.integers(0, w - 1))
        y = data.draw(st.integers(0, h - 1))
        rect = Rect(x, y, data.draw(st.integers(1, w - x)), data.draw(st.integers(1, h - y)))
        layout = plan_layout(w, h, Resize(crop=rect))
        assert rect == layout.region
        assert (rect.w, rect.h) == layout.canvas

    @given(
        sides,
        sides,
        st.integers(0, 4000),
        st.integers(0, 4000),
        st.integers(1, 4000),
        st.integers(1, 4000),
    )
    def test_a_rectangle_outside_is_refused(
        self, w: int, h: int, x: int, y: int, cw: int, ch: int
    ) -> None:
        """A rectangle reaching past the image is refused, naming the crop field."""
        rect = Rect(x, y, cw, ch)
        if rect.inside(w, h):
            assert rect == plan_layout(w, h, Resize(crop=rect)).region
        else:
            with pytest.raises(InvalidInput) as caught:
                plan_layout(w, h, Resize(crop=rect))
            assert "crop" == caught.value.field


class TestUpscaleFactor:
    @pytest.mark.parametrize(
        ("source", "target", "factor"),
        [(100, 50, 1), (100, 100, 1), (100, 150, 2), (100, 200, 2), (100, 201, 4), (100, 900, 4)],
    )
    def test_smallest_factor_that_reaches(self, source: int, target: int, factor: int) -> None:
        """The learned upscaler's factor is the smallest of 2 and 4 reaching the target."""
        layout = plan_layout(source, source, Resize(width=target, height=target, fit=Fit.FILL))
        assert factor == upscale_factor(layout)

    def test_peak_pixels_count_the_upscaled_window(self) -> None:
        """The check up front counts the upscaled intermediate, not just the result."""
        layout = plan_layout(100, 100, Resize(width=300, height=300))
        assert (400 * 400, 300 * 300) == output_pixels(layout)


class TestParsing:
    @pytest.mark.parametrize(
        "raw", ["16", "16:9:1", "a:b", "0:1", "12345:1", "\uff11:2", "-1:2", ""]
    )
    def test_bad_aspects(self, raw: str) -> None:
        """Malformed or out-of-range aspects are refused on the aspect field."""
        with pytest.raises(InvalidInput) as caught:
            Resize(aspect=parse_aspect(raw))
        assert "aspect" == caught.value.field

    def test_extreme_aspect_refused(self) -> None:
        """More than 100:1 is refused."""
        with pytest.raises(InvalidInput):
            Resize(aspect=parse_aspect("1000:1"))

    @pytest.mark.parametrize(
        "raw", ["middle", "1,2,3", "1,2,3,4,5", "1,2,0,4", "x,1,1,1", "9999999,1,1,1"]
    )
    def test_bad_crops(self, raw: str) -> None:
        """Crops other than the modes or four whole numbers are refused."""
        with pytest.raises(InvalidInput) as caught:
            parse_crop(raw)
        assert "crop" == caught.value.field

    def test_crop_modes_and_rectangles(self) -> None:
        """Modes by name (any case), rectangles as x,y,w,h."""
        assert Crop.FACES == parse_crop("Faces")
        assert Rect(1, 2, 3, 4) == parse_crop("1, 2, 3, 4")

    @pytest.mark.parametrize(
        ("raw", "colour"),
        [
            ("transparent", Background(0, 0, 0, 0)),
            ("white", Background(255, 255, 255, 255)),
            ("#102030", Background(16, 32, 48, 255)),
            ("10203080", Background(16, 32, 48, 128)),
        ],
    )
    def test_backgrounds(self, raw: str, colour: Background) -> None:
        """Names, #rrggbb and #rrggbbaa."""
        assert colour == parse_background(raw)

    @pytest.mark.parametrize("raw", ["red", "#12345", "#gggggg", "#1234567"])
    def test_bad_backgrounds(self, raw: str) -> None:
        with pytest.raises(InvalidInput):
            parse_background(raw)

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"width": 0}, "width"),
            ({"height": MAX_SIDE + 1}, "height"),
            ({"fit": Fit.COVER}, "fit"),
            ({"crop": Crop.SMART}, "crop"),
            ({"width": 5, "fit": Fit.CONTAIN, "crop": Crop.FACES}, "crop"),
            ({"width": 5, "height": 5, "aspect": (1, 1)}, "aspect"),
            ({"aspect": (1, 1), "fit": Fit.FILL}, "fit"),
        ],
    )
    def test_inconsistent_requests(self, fields: dict[str, object], field: str) -> None:
        """Combinations that cannot mean anything are refused, naming a field."""
        with pytest.raises(InvalidInput) as caught:
            Resize(**fields)  # type: ignore[arg-type]
        assert field == caught.value.field
