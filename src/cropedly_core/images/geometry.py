"""Resize-to-target geometry: pure functions from sizes and options to a layout.

Nothing here looks at pixels. ``plan_layout`` turns the source size (after EXIF
orientation) and a ``Resize`` request into a ``Layout``: which source window is kept,
what size it is scaled to and where it sits on the output canvas. Where the window
is placed (``smart``, ``faces``, ``center``) is decided in ``crop.py``; an explicit
rectangle fixes it here.
"""

from __future__ import annotations

import enum

import attrs

from cropedly_core.errors import InvalidInput

MAX_SIDE = 16_384
"""Largest width or height a caller may ask for; the pixel limit applies as well."""

MAX_ASPECT_TERM = 1_000
MAX_ASPECT_RATIO = 100.0


class Fit(enum.StrEnum):
    CONTAIN = "contain"
    COVER = "cover"
    FILL = "fill"
    PAD = "pad"


class Crop(enum.StrEnum):
    SMART = "smart"
    CENTER = "center"
    FACES = "faces"


@attrs.frozen
class Rect:
    """A rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def inside(self, width: int, height: int) -> bool:
        return self.x >= 0 and self.y >= 0 and self.right <= width and self.bottom <= height


@attrs.frozen
class Background:
    """Padding colour, 8-bit RGBA; alpha 0 is transparency."""

    r: int = 0
    g: int = 0
    b: int = 0
    a: int = 0

    @property
    def transparent(self) -> bool:
        return self.a < 255

    @property
    def grey(self) -> bool:
        return self.r == self.g == self.b


TRANSPARENT = Background()


def _check_side(value: int | None, name: str) -> None:
    if value is not None and not 1 <= value <= MAX_SIDE:
        raise InvalidInput(f"{name} must be a whole number from 1 to {MAX_SIDE}.", field=name)


def _check_implied_side(width: int | None, height: int | None, aw: int, ah: int) -> None:
    """The side an aspect implies must fit the limit too: clamping it would silently
    give another aspect than the one asked for."""
    implied = 1
    if width is not None:
        implied = round(width * ah / aw)
    elif height is not None:
        implied = round(height * aw / ah)
    if implied > MAX_SIDE:
        raise InvalidInput(
            f"That aspect makes the other side {implied} pixels; at most {MAX_SIDE}.",
            field="aspect",
        )


@attrs.frozen
class Resize:
    """A resize-to-target request.

    Attributes:
        width: target width in pixels, or None.
        height: target height in pixels, or None.
        aspect: (w, h) aspect ratio, an alternative to giving both sides.
        fit: how the image meets the box; None picks ``cover`` with an aspect or a
            crop mode, else ``contain``.
        crop: where a ``cover`` window goes (``smart`` by default), or an explicit
            rectangle in source pixels (after orientation) cut before anything else.
        background: colour of the ``pad`` margins.
    """

    width: int | None = None
    height: int | None = None
    aspect: tuple[int, int] | None = None
    fit: Fit | None = None
    crop: Crop | Rect | None = None
    background: Background = TRANSPARENT

    def __attrs_post_init__(self) -> None:
        _check_side(self.width, "width")
        _check_side(self.height, "height")
        if self.aspect is not None:
            aw, ah = self.aspect
            if not (1 <= aw <= MAX_ASPECT_TERM and 1 <= ah <= MAX_ASPECT_TERM):
                raise InvalidInput("aspect terms must be from 1 to 1000.", field="aspect")
            if max(aw / ah, ah / aw) > MAX_ASPECT_RATIO:
                raise InvalidInput("aspect must be between 1:100 and 100:1.", field="aspect")
            if self.width is not None and self.height is not None:
                raise InvalidInput(
                    "Give width and height, or aspect, not all three.", field="aspect"
                )
            _check_implied_side(self.width, self.height, aw, ah)
        boxed = self.width is not None or self.height is not None or self.aspect is not None
        if not boxed and self.fit is not None:
            raise InvalidInput("fit needs width, height or aspect.", field="fit")
        if not boxed and isinstance(self.crop, Crop):
            raise InvalidInput(
                f"crop={self.crop.value} needs width, height or aspect.", field="crop"
            )
        if isinstance(self.crop, Crop) and self.resolved_fit() not in (Fit.COVER, None):
            raise InvalidInput(
                f"crop={self.crop.value} chooses a window, so it needs fit=cover.", field="crop"
            )
        if (
            self.aspect is not None
            and self.width is None
            and self.height is None
            and self.fit in (Fit.CONTAIN, Fit.FILL)
        ):
            raise InvalidInput(
                "An aspect without width or height needs fit=cover or fit=pad.", field="fit"
            )
        if isinstance(self.crop, Rect) and (self.crop.w < 1 or self.crop.h < 1):
            raise InvalidInput("The crop rectangle must be at least 1 x 1.", field="crop")

    @property
    def boxed(self) -> bool:
        return self.width is not None or self.height is not None or self.aspect is not None

    def resolved_fit(self) -> Fit | None:
        """The fit in force: None when there is no box (explicit crop only)."""
        if not self.boxed:
            return None
        if self.fit is not None:
            return self.fit
        if self.aspect is not None:  # whoever names an aspect wants that shape
            return Fit.COVER
        if self.width is not None and self.height is not None:
            # An explicit crop strategy implies filling the box.
            return Fit.COVER if isinstance(self.crop, Crop) else Fit.CONTAIN
        return Fit.CONTAIN


@attrs.frozen
class Layout:
    """How a source of a known size becomes the output.

    Attributes:
        region: the part of the source kept first (the explicit crop, else the whole image).
        window: size (w, h) of the window cut from ``region``; placed by ``crop.py``
            for ``cover``, else equal to the region.
        scaled: size (w, h) the window is resampled to.
        canvas: size (w, h) of the output (``scaled`` plus ``pad`` margins).
        offset: (x, y) of the scaled window on the canvas.
        placement: how to place the window when it is smaller than the region.
    """

    region: Rect
    window: tuple[int, int]
    scaled: tuple[int, int]
    canvas: tuple[int, int]
    offset: tuple[int, int] = (0, 0)
    placement: Crop = Crop.SMART

    @property
    def needs_placement(self) -> bool:
        return self.window != (self.region.w, self.region.h)

    @property
    def enlargement(self) -> float:
        """The largest per-axis scale from window to output size."""
        return max(self.scaled[0] / self.window[0], self.scaled[1] / self.window[1])


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def _box(resize: Resize, w: int, h: int) -> tuple[int, int]:  # noqa: PLR0911 - one return per case
    """The target box (W, H) for a source region of w x h."""
    if resize.width is not None and resize.height is not None:
        return resize.width, resize.height
    if resize.aspect is not None:
        aw, ah = resize.aspect
        if resize.width is not None:
            return resize.width, _clamp(round(resize.width * ah / aw), 1, MAX_SIDE)
        if resize.height is not None:
            return _clamp(round(resize.height * aw / ah), 1, MAX_SIDE), resize.height
        if resize.resolved_fit() is Fit.PAD:
            return _outer(w, h, aw, ah)
        return inner_window(w, h, aw, ah)
    if resize.width is not None:
        return resize.width, _clamp(round(h * resize.width / w), 1, MAX_SIDE)
    assert resize.height is not None
    return _clamp(round(w * resize.height / h), 1, MAX_SIDE), resize.height


def inner_window(w: int, h: int, bw: int, bh: int) -> tuple[int, int]:
    """The largest window of aspect bw:bh inside w x h (one side is always full)."""
    if w * bh >= h * bw:  # the source is wider than the box: full height
        return _clamp(round(h * bw / bh), 1, w), h
    return w, _clamp(round(w * bh / bw), 1, h)


def _outer(w: int, h: int, aw: int, ah: int) -> tuple[int, int]:
    """The smallest box of aspect aw:ah holding w x h."""
    if w * ah >= h * aw:
        return w, max(h, round(w * ah / aw))
    return max(w, round(h * aw / ah)), h


def contain_size(w: int, h: int, bw: int, bh: int) -> tuple[int, int]:
    """w x h scaled to fit inside bw x bh, aspect kept, each side at least 1."""
    if w * bh >= h * bw:  # width is the limiting side
        return bw, _clamp(round(h * bw / w), 1, bh)
    return _clamp(round(w * bh / h), 1, bw), bh


def plan_layout(width: int, height: int, resize: Resize) -> Layout:
    """The layout for a ``width`` x ``height`` source (orientation already applied).

    Raises ``InvalidInput`` (field ``crop``) when an explicit rectangle is not inside
    the image.
    """
    region = Rect(0, 0, width, height)
    if isinstance(resize.crop, Rect):
        if not resize.crop.inside(width, height):
            raise InvalidInput(
                f"The crop rectangle {resize.crop.x},{resize.crop.y},{resize.crop.w},"
                f"{resize.crop.h} is not inside the {width} x {height} image "
                "(after EXIF orientation).",
                field="crop",
            )
        region = resize.crop
    rw, rh = region.w, region.h
    fit = resize.resolved_fit()
    if fit is None:
        return Layout(region, (rw, rh), (rw, rh), (rw, rh))
    bw, bh = _box(resize, rw, rh)
    if resize.aspect is None and (resize.width is None or resize.height is None):
        # One side given: the other follows the aspect, so every fit is the same scale.
        return Layout(region, (rw, rh), (bw, bh), (bw, bh))
    placement = resize.crop if isinstance(resize.crop, Crop) else Crop.SMART
    if fit is Fit.COVER:
        return Layout(region, inner_window(rw, rh, bw, bh), (bw, bh), (bw, bh), placement=placement)
    if fit is Fit.FILL:
        return Layout(region, (rw, rh), (bw, bh), (bw, bh))
    sw, sh = contain_size(rw, rh, bw, bh)
    if fit is Fit.CONTAIN:
        return Layout(region, (rw, rh), (sw, sh), (sw, sh))
    return Layout(region, (rw, rh), (sw, sh), (bw, bh), offset=((bw - sw) // 2, (bh - sh) // 2))


def upscale_factor(layout: Layout) -> int:
    """The learned upscaler's factor: the smallest of 2 and 4 that reaches the target.

    1 when the window only shrinks; 4 when even 4 falls short (the rest is resampled).
    """
    need = layout.enlargement
    if need <= 1:
        return 1
    return 2 if need <= 2 else 4


def center_window(region: Rect, window: tuple[int, int]) -> Rect:
    """The window centred in the region."""
    ww, wh = window
    return Rect(region.x + (region.w - ww) // 2, region.y + (region.h - wh) // 2, ww, wh)


def output_pixels(layout: Layout) -> tuple[int, int]:
    """(largest intermediate, final) pixel counts, to check against the limits up front."""
    factor = upscale_factor(layout)
    ww, wh = layout.window
    canvas = layout.canvas[0] * layout.canvas[1]
    scaled = layout.scaled[0] * layout.scaled[1]
    return max(ww * wh * factor * factor, scaled, canvas), canvas


def parse_aspect(raw: str) -> tuple[int, int]:
    """``16:9`` -> (16, 9); short, ASCII digits only, so nothing huge is ever parsed."""
    parts = raw.split(":")
    if len(parts) != 2 or not all(0 < len(p) <= 4 and p.isascii() and p.isdecimal() for p in parts):
        raise InvalidInput("aspect must look like 16:9 (two whole numbers).", field="aspect")
    return int(parts[0]), int(parts[1])


def parse_crop(raw: str) -> Crop | Rect:
    """``smart``, ``center``, ``faces`` or ``x,y,w,h`` in source pixels."""
    lowered = raw.strip().lower()
    for mode in Crop:
        if lowered == mode.value:
            return mode
    parts = lowered.split(",")
    if len(parts) != 4 or not all(
        0 < len(p.strip()) <= 6 and p.strip().isascii() and p.strip().isdecimal() for p in parts
    ):
        raise InvalidInput(
            "crop must be smart, center, faces or x,y,w,h (whole pixels).", field="crop"
        )
    x, y, w, h = (int(p) for p in parts)
    if w < 1 or h < 1:
        raise InvalidInput("The crop rectangle must be at least 1 x 1.", field="crop")
    return Rect(x, y, w, h)


_NAMED = {"white": Background(255, 255, 255, 255), "black": Background(0, 0, 0, 255)}


def parse_background(raw: str) -> Background:
    """``transparent``, ``white``, ``black``, ``#rrggbb`` or ``#rrggbbaa``."""
    lowered = raw.strip().lower()
    if lowered == "transparent":
        return TRANSPARENT
    if lowered in _NAMED:
        return _NAMED[lowered]
    digits = lowered.removeprefix("#")
    if len(digits) not in (6, 8) or not all(c in "0123456789abcdef" for c in digits):
        raise InvalidInput(
            "background must be transparent, white, black, #rrggbb or #rrggbbaa.",
            field="background",
        )
    r, g, b = (int(digits[i : i + 2], 16) for i in range(0, 6, 2))
    a = int(digits[6:8], 16) if len(digits) == 8 else 255
    return Background(r, g, b, a)
