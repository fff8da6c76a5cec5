"""Hypothesis strategies for accounts: e-mails, users, passwords, plans."""

from __future__ import annotations

import string
from datetime import UTC, datetime

from hypothesis import strategies as st

from cropedly_core.errors import WeakPassword
from cropedly_core.passwords import check_password
from cropedly_core.users import Plan, Role, User, normalise_email

_LOCAL = string.ascii_letters + string.digits + "._+-"
_LABEL = string.ascii_letters + string.digits

plans = st.sampled_from(list(Plan))
roles = st.frozensets(st.sampled_from(list(Role)))


def emails() -> st.SearchStrategy[str]:
    """Valid e-mail addresses in mixed case (not normalised)."""
    return st.builds(
        "{}@{}.{}".format,
        st.text(_LOCAL, min_size=1, max_size=20),
        st.text(_LABEL, min_size=1, max_size=20),
        st.text(string.ascii_letters, min_size=2, max_size=8),
    )


def case_variants(value: str) -> st.SearchStrategy[str]:
    """``value`` with each letter independently upper- or lower-cased."""
    return st.lists(st.booleans(), min_size=len(value), max_size=len(value)).map(
        lambda flips: "".join(
            c.upper() if f else c.lower() for c, f in zip(value, flips, strict=True)
        )
    )


def colliding_emails(
    pool: tuple[str, ...] = ("ann@example.com", "bob@example.org"),
) -> st.SearchStrategy[str]:
    """Mostly case variants of a small pool, so duplicates happen often; sometimes a fresh one."""
    return st.one_of(st.sampled_from(pool).flatmap(case_variants), emails())


def padded(value: str) -> st.SearchStrategy[str]:
    """``value`` with random surrounding whitespace."""
    space = st.text(" \t\n", max_size=3)
    return st.tuples(space, space).map(lambda p: f"{p[0]}{value}{p[1]}")


def strong_passwords() -> st.SearchStrategy[str]:
    """Passwords the policy accepts (for an account without e-mail or name)."""

    def accepted(password: str) -> bool:
        try:
            check_password(password)
        except WeakPassword:
            return False
        return True

    return st.text(string.printable.strip(), min_size=10, max_size=64).filter(accepted)


created_ats = st.datetimes(
    # hypothesis wants naive bounds; ``timezones`` makes the values aware
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
# What the core can store: its clean_name refuses control characters, and
# PostgreSQL's text type cannot hold NUL (a hash from any hasher is printable).
names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)
password_hashes = st.none() | st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=100,
)
origins = st.builds(
    "{}://{}".format,
    st.sampled_from(["http", "https"]),
    st.text(string.ascii_lowercase, min_size=1, max_size=12).map(lambda h: h + ".example"),
)


@st.composite
def users(draw: st.DrawFn, user_id: str | None = None, email: str | None = None) -> User:
    """Any storable user (e-mail already normalised, as the core stores it)."""
    return User(
        id=user_id or draw(st.uuids()).hex,
        email=normalise_email(email or draw(emails())),
        name=draw(names),
        plan=draw(plans),
        password_hash=draw(password_hashes),
        created_at=draw(created_ats),
        token_version=draw(st.integers(0, 2**31)),
        roles=draw(roles) | {Role.USER},
        origins=draw(st.frozensets(origins, max_size=3)),
    )


# ------------------------------------------------------------------------ images

import io  # noqa: E402 - grouped with the images strategies

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

IMAGE_MODES = ("L", "RGB", "RGBA", "P", "LA", "I;16")
_CHANNELS = {"L": 1, "RGB": 3, "RGBA": 4, "P": 1, "LA": 2, "I;16": 1}


@st.composite
def pil_images(
    draw: st.DrawFn, max_side: int = 64, modes: tuple[str, ...] = IMAGE_MODES
) -> Image.Image:
    """Small images in any supported mode with random content.

    Images with alpha always hold at least one partly transparent pixel, so
    encoders cannot legitimately drop the channel.
    """
    mode = draw(st.sampled_from(modes))
    width = draw(st.integers(1, max_side))
    height = draw(st.integers(1, max_side))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    channels = _CHANNELS[mode]
    arr = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    if mode in ("RGBA", "LA"):
        arr[0, 0, -1] = 100
    if mode == "P":
        image = Image.fromarray(arr[..., 0], "L").convert("P")
        image.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
        return image
    return Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    """The image as a file in memory."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()
