"""Pillow codec: decides the format from the bytes, decodes untrusted files safely,
normalises to 8-bit sRGB and encodes without personal metadata.

Safety model, in order:

1. The format is sniffed from the magic bytes against the allow-list; Pillow is then
   told to try that one plugin only (``formats=``), so a file cannot reach a decoder
   outside the list by looking like something else (PSD, EPS, ... are refused 415).
2. Only the first frame (page) is ever read: its width x height and its tiles'
   extents are checked from the header before any pixel is decoded
   (``too-many-pixels`` / ``decompression-bomb``), so the work per file is bounded
   by one frame of at most ``max_pixels``. Other frames are never sought: seeking
   to a GIF frame decodes every frame before it onto the canvas (1,500 frames kept
   a worker busy for its whole time limit). Where the header states the frame
   count (APNG, WebP, AVIF, HEIF) it is checked against ``max_frames``; a GIF's
   frames are counted, and their extents checked, by skipping over its blocks
   without decoding them; a TIFF's later pages are not visited at all.
   Pillow's own ``DecompressionBombWarning`` is raised as an error here.
3. ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False: truncated files fail.
4. Any exception from the decoders on these bytes becomes ``corrupt-image`` (logged
   with its traceback, chained as ``__cause__``); ``MemoryError`` and Pillow's PNG
   text-chunk limit become ``decompression-bomb``.

Animated GIF/PNG/WebP/AVIF/HEIF and multi-page TIFF: the first frame (page) is
enhanced; the others are ignored.

Colour profiles are untrusted bytes too: one is used only if it is at most
``MAX_PROFILE_BYTES`` and lcms parses it; otherwise the pixels are taken as sRGB and
the profile is dropped (it would otherwise be copied into the result as sent).
"""

from __future__ import annotations

import io
import logging
import re
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageFile

from cropedly_core.errors import ImageRejected
from cropedly_core.images.formats import ACCEPTED_FORMATS, TRAITS, resolve_output_format
from cropedly_core.images.model import EncodedImage, ImageInfo, OutputFormat, Pixels, Raster

log = logging.getLogger(__name__)

pillow_heif.register_heif_opener()
Image.init()

_MAX_FRAMES = 10_000
MAX_PROFILE_BYTES = 1 << 20
"""Larger colour profiles are dropped unread: display profiles are a few KB."""
# Formats whose frame count is a header field. GIF and TIFF have none: Pillow counts
# by walking every frame (page), the work a file must not be able to cause.
_FRAMES_IN_HEADER = frozenset({"PNG", "WEBP", "AVIF", "HEIF"})
_GIF_BLOCK = re.compile(rb"[!,;]")
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_SIXTEEN_BIT = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_GREY = frozenset({"1", "L", "LA", "La"}) | _SIXTEEN_BIT


def sniff_format(data: bytes) -> str | None:  # noqa: PLR0911 - one return per signature
    """The allow-listed format the magic bytes announce, or None."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:2] == b"BM" and len(head) >= 26:
        return "BMP"
    if head[4:8] == b"ftyp":
        size = int.from_bytes(head[:4], "big")
        box = data[8 : min(max(size, 16), 4096)]
        brands = {box[:4]} | {box[i : i + 4] for i in range(8, len(box) - 3, 4)}
        if brands & _AVIF_BRANDS:
            return "AVIF"
        if brands & _HEIF_BRANDS:
            return "HEIF"
    return None


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@cache
def _srgb_bytes() -> bytes:
    return _srgb_profile().tobytes()


def _rejected_from(exc: BaseException) -> ImageRejected:
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        # Pillow's own guard fired: a header (of any frame) claims an absurd size.
        return ImageRejected(
            "decompression-bomb", "The file claims far more pixels than any photo has."
        )
    if isinstance(exc, MemoryError) or "Decompressed data too large" in str(exc):
        return ImageRejected(
            "decompression-bomb", "The file expands to far more data than an image of its size."
        )
    # Bad uploads are routine: one line at INFO, the trace only at DEBUG.
    log.info("refusing an undecodable image: %s: %s", type(exc).__name__, exc)
    log.debug("decoder trace", exc_info=exc)
    # The decoder's message is logged, not returned: it can name internals.
    return ImageRejected(
        "corrupt-image", "The file is damaged or truncated and could not be decoded."
    )


@contextmanager
def _untrusted() -> Iterator[None]:
    """Turn anything a decoder raises on hostile bytes into ImageRejected.

    Deliberately broad: fuzzers make Pillow's plugins raise almost any built-in
    exception. It is never silent: the cause is logged and chained.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except ImageRejected:
            raise
        except Exception as exc:
            raise _rejected_from(exc) from exc
        finally:
            for warning in caught:
                log.debug("Decoder warning: %s", warning.message)


def _check_frame(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected("corrupt-image", "The image has no pixels.")
    if width * height > max_pixels:
        raise ImageRejected(
            "too-many-pixels",
            f"The image has {width * height:,} pixels ({width} x {height}); "
            f"the limit is {max_pixels:,}.",
        )
    for tile in getattr(image, "tile", ()):
        extents = tile.extents if tile.extents is not None else (0, 0, width, height)
        _check_extents(extents, image.size, max_pixels)


def _check_extents(
    extents: tuple[int, int, int, int], size: tuple[int, int], max_pixels: int
) -> None:
    x0, y0, x1, y1 = extents
    width, height = size
    if (x1 - x0) * (y1 - y0) > max_pixels or x1 > 2 * width + 64 or y1 > 2 * height + 64:
        raise ImageRejected(
            "decompression-bomb", "A frame of the image claims far more pixels than the image."
        )


def _gif_frames(data: bytes, max_blocks: int) -> Iterator[tuple[int, int, int, int]]:
    """The extents (x0, y0, x1, y1) of every frame of a GIF, from its block structure.

    The compressed data is skipped by its sub-block lengths, never decoded: a few
    milliseconds for 1,500 frames, under a second for 25 MB of the smallest possible
    blocks. Bytes between blocks are skipped as Pillow skips them; a truncated file
    simply ends. More than ``max_blocks`` blocks (frames and extensions) is refused:
    real animations have two or three per frame.
    """
    end = len(data)
    blocks = 0
    flags = data[10] if end > 10 else 0
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # header, global palette
    while pos < end:
        marker = data[pos]
        if marker == 0x3B:  # trailer
            return
        blocks += 1
        if blocks > max_blocks:
            raise ImageRejected("decompression-bomb", "The GIF has far more blocks than frames.")
        if marker == 0x2C and pos + 10 <= end:  # image descriptor
            x0, y0, width, height = struct.unpack_from("<4H", data, pos + 1)
            flags = data[pos + 9]
            yield x0, y0, x0 + width, y0 + height
            # descriptor, local palette, LZW code size, then the data's sub-blocks
            pos = _skip_sub_blocks(data, pos + 11 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0))
        elif marker == 0x21:  # extension: label, then sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        else:
            found = _GIF_BLOCK.search(data, pos + 1)
            if found is None:
                return
            pos = found.start()


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    end = len(data)
    while pos < end:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


class PillowCodec:
    """ImageCodec on Pillow (+ pillow-heif for HEIC/HEIF; Pillow reads AVIF itself)."""

    def __init__(self, max_frames: int = _MAX_FRAMES) -> None:
        self._max_frames = max_frames

    @contextmanager
    def _open(self, data: bytes, max_pixels: int) -> Iterator[tuple[Image.Image, str]]:
        fmt = sniff_format(data)
        if fmt is None or fmt not in ACCEPTED_FORMATS:
            raise ImageRejected(
                "unsupported-format",
                "Only JPEG, PNG, WebP, GIF, TIFF, BMP, AVIF and HEIC/HEIF images are accepted.",
            )
        with _untrusted():
            image = Image.open(io.BytesIO(data), formats=[fmt])
        try:
            with _untrusted():
                # Frame 0 only: it is the one enhanced, and no other is ever decoded.
                _check_frame(image, max_pixels)
                self._check_frames(data, fmt, image, max_pixels)
            yield image, fmt
        finally:
            image.close()

    def _check_frames(self, data: bytes, fmt: str, image: Image.Image, max_pixels: int) -> None:
        """The frame count, and for GIF every frame's extents, without reading a frame."""
        frames = 1
        if fmt == "GIF":
            # The hostile set has GIFs whose later frames claim billions of pixels.
            # They are refused, as Pillow would refuse to seek to them, though only
            # frame 0 is ever decoded.
            gif = _gif_frames(data, max_blocks=4 * self._max_frames + 16)
            for frames, extents in enumerate(gif, start=1):
                _check_extents(extents, image.size, max_pixels)
                if frames > self._max_frames:
                    break
        elif fmt in _FRAMES_IN_HEADER:
            frames = int(getattr(image, "n_frames", 1))
        if frames > self._max_frames:
            raise ImageRejected(
                "decompression-bomb", f"The file has over {self._max_frames:,} frames."
            )

    def probe(self, data: bytes, max_pixels: int) -> ImageInfo:
        with self._open(data, max_pixels) as (image, fmt):
            return ImageInfo(fmt, image.width, image.height)

    def decode(self, data: bytes, max_pixels: int) -> Raster:
        with self._open(data, max_pixels) as (image, fmt), _untrusted():
            normal, icc, grey = _decoded(image)
            pixels = _to_pixels(normal)
            del normal
        return Raster(pixels=pixels, source_format=fmt, icc_profile=icc, grey=grey)

    def transcode(
        self, data: bytes, max_pixels: int, fmt: OutputFormat, quality: int | None
    ) -> EncodedImage:
        """``encode(decode(data), ...)``, byte for byte, without the pixels leaving Pillow.

        The decoded image goes to the encoder as it is: no copy into NumPy and back,
        which on a 2 MP JPEG is about a tenth of the whole job.
        """
        with self._open(data, max_pixels) as (image, source_format), _untrusted():
            normal, icc, grey = _decoded(image)
            out_format = resolve_output_format(source_format, fmt)
            if "A" in normal.mode and not TRAITS[out_format].supports_alpha:
                # Compositing on white is NumPy code: take the general path.
                raster = Raster(_to_pixels(normal), source_format, icc, grey)
                return self.encode(raster, fmt, quality)
            # Encoders read comments, profiles and more from ``info``: the file's
            # metadata must not reach the output (encode starts from a fresh image).
            normal.info = {}
            return _save(normal, out_format, quality, icc)

    def encode(self, raster: Raster, fmt: OutputFormat, quality: int | None) -> EncodedImage:
        out_format = resolve_output_format(raster.source_format, fmt)
        pixels = raster.pixels
        if raster.has_alpha and not TRAITS[out_format].supports_alpha:
            pixels = composite_on_white(pixels)
        has_alpha = pixels.shape[2] == 4
        if raster.grey:
            arr = pixels[..., [0, 3]] if has_alpha else pixels[..., 0]
            mode = "LA" if has_alpha else "L"
        else:
            arr = pixels
            mode = "RGBA" if has_alpha else "RGB"
        image = Image.fromarray(np.ascontiguousarray(arr), mode)
        return _save(image, out_format, quality, raster.icc_profile)


def _decoded(image: Image.Image) -> tuple[Image.Image, bytes | None, bool]:
    """The opened file loaded, upright and normalised (see ``_normalise``)."""
    image.load()
    orientation = _orientation(image)
    normal, icc, grey = _normalise(image)
    return _upright(normal, orientation), icc, grey


def _save(
    image: Image.Image, out_format: OutputFormat, quality: int | None, icc: bytes | None
) -> EncodedImage:
    traits = TRAITS[out_format]
    buffer = io.BytesIO()
    image.save(buffer, format=out_format.value.upper(), **encoder_params(out_format, quality, icc))
    return EncodedImage(
        data=buffer.getvalue(),
        mime_type=traits.mime_type,
        extension=traits.extension,
        width=image.width,
        height=image.height,
    )


def encoder_params(
    out_format: OutputFormat, quality: int | None, icc: bytes | None
) -> dict[str, object]:
    """Save options per format; shared with the benchmark's plain-Pillow floor.

    Nothing here carries EXIF, XMP, IPTC or comments: the encoded image is fresh from
    ``Image.fromarray`` so Pillow has no metadata to copy.
    """
    traits = TRAITS[out_format]
    q = quality if quality is not None else traits.default_quality
    params: dict[str, object] = {}
    if icc:
        params["icc_profile"] = icc
    if out_format is OutputFormat.JPEG:
        params.update(quality=q, optimize=True, progressive=True)
    elif out_format is OutputFormat.PNG:
        params.update(compress_level=6)
    elif out_format is OutputFormat.WEBP:
        params.update(quality=q, method=4)
    else:
        params.update(quality=q)
    return params


def composite_on_white(pixels: Pixels) -> Pixels:
    """RGBA over an opaque white background, for formats without alpha (JPEG).

    White because most transparent uploads are logos and cut-outs meant for white
    pages. Integer maths in strips keeps a 50 MP image's working set small.
    """
    h, w = pixels.shape[:2]
    out = np.empty((h, w, 3), dtype=np.uint8)
    rows = max(1, (1 << 20) // max(1, w))
    for top in range(0, h, rows):
        part = pixels[top : top + rows].astype(np.uint16)
        alpha = part[..., 3:4]
        mixed = (part[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255
        out[top : top + rows] = mixed.astype(np.uint8)
    return out


def _orientation(image: Image.Image) -> int:
    """EXIF orientation 1-8; anything unreadable counts as upright rather than refusing."""
    try:
        value = image.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError, TypeError, KeyError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


_TRANSPOSE: dict[int, tuple[Image.Transpose, ...]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    for method in _TRANSPOSE.get(orientation, ()):
        image = image.transpose(method)
    return image


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    return "srgb" in ImageCms.getProfileDescription(profile).lower()


# lcms colour-space signatures a profile must have to describe pixels of these modes.
_PROFILE_SPACE = {"L": "GRAY", "LA": "GRAY", "RGB": "RGB", "RGBA": "RGB", "CMYK": "CMYK"}


def _usable_profile(icc: bytes | None, mode: str) -> ImageCms.ImageCmsProfile | None:
    """The parsed profile if it is small, well-formed and for ``mode``'s colour space.

    Anything else is dropped so that random bytes sent as a "profile" never reach
    the result; the pixels are then taken as sRGB, as for a file without one.
    """
    if not icc:
        return None
    if len(icc) > MAX_PROFILE_BYTES:
        log.info("Dropping a colour profile of %d bytes", len(icc))
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = str(profile.profile.xcolor_space).strip()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError, AttributeError) as exc:
        log.info("Dropping an unreadable colour profile: %s", exc)
        return None
    if space != _PROFILE_SPACE.get(mode):
        log.info("Dropping a %s colour profile on %s pixels", space, mode)
        return None
    return profile


def _to_srgb(
    image: Image.Image, icc: bytes, profile: ImageCms.ImageCmsProfile
) -> tuple[Image.Image, bytes | None]:
    """Colour-manage RGB/CMYK pixels into sRGB; if lcms cannot, drop the profile."""
    try:
        if image.mode != "CMYK" and _is_srgb(profile):
            return image, icc
        alpha = image.getchannel("A") if image.mode == "RGBA" else None
        colour = image.convert("RGB") if image.mode == "RGBA" else image
        converted = ImageCms.profileToProfile(
            colour,
            profile,
            _srgb_profile(),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        log.info("Unusable colour profile, dropped: %s", exc)
        return (image.convert("RGB") if image.mode == "CMYK" else image), None
    if converted is None:  # pragma: no cover - profileToProfile returns None only in place
        return image, None
    if alpha is not None:
        converted.putalpha(alpha)
    return converted, _srgb_bytes()


def _sixteen_to_eight(image: Image.Image) -> Image.Image:
    arr = np.asarray(image)
    if image.mode == "F":
        scale = 255.0 if float(np.nanmax(arr)) <= 1.0 else 1.0
        out = np.clip(np.nan_to_num(arr) * scale + 0.5, 0, 255)
    elif image.mode == "I" and int(arr.max(initial=0)) <= 255:
        out = np.clip(arr, 0, 255)
    else:
        # Round to nearest: x * 255 / 65535 == (x + 128) / 257 within half a step.
        out = (np.clip(arr.astype(np.int64), 0, 65535) + 128) // 257
    return Image.fromarray(out.astype(np.uint8), "L")


# Modes Pillow can hand us, to the few the pipeline works in; "with transparency"
# applies when the file has a tRNS chunk / GIF transparent index.
_PLAIN_MODE = {"1": "L", "La": "LA", "RGBa": "RGBA", "PA": "RGBA", "P": "RGB"}
_WITH_TRANSPARENCY = {"L": "LA", "RGB": "RGBA", "P": "RGBA", "1": "LA"}


def _normalise(image: Image.Image) -> tuple[Image.Image, bytes | None, bool]:
    """To L, LA, RGB or RGBA in sRGB; returns (image, profile to embed, is grey)."""
    icc = image.info.get("icc_profile") or None
    if image.mode in _SIXTEEN_BIT:
        eight = _sixteen_to_eight(image)
        return eight, (icc if _usable_profile(icc, eight.mode) else None), True
    grey = image.mode in _GREY
    target = (
        _WITH_TRANSPARENCY.get(image.mode)
        if "transparency" in image.info
        else _PLAIN_MODE.get(image.mode)
    )
    if target is not None:
        image = image.convert(target)
    profile = _usable_profile(icc, image.mode)
    if profile is None:
        icc = None
    if grey:
        # Grey profiles differ only in their tone curve: keep pixels and profile.
        return image, icc, True
    if icc is not None and profile is not None:
        image, icc = _to_srgb(image, icc, profile)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    return image, icc, False


def _to_pixels(image: Image.Image) -> Pixels:
    arr = np.asarray(image)
    if image.mode == "L":
        return np.repeat(arr[..., None], 3, axis=2)
    if image.mode == "LA":
        return arr[..., [0, 0, 0, 1]]
    return arr


ImageFile.LOAD_TRUNCATED_IMAGES = False
