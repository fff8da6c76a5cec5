"""Secrets kept as owner-only files, named by when they become active.

A name starts with its activation time, ``YYYYmmddHHMMSS`` in UTC, then a dash
and random hex. The JWT signing keys (``keys/*.pem``) and the link-signing
secrets (``keys/link-secrets/*``) share this scheme: the newest secret active
now signs, every one in the folder verifies, a staged one (activation in the
future) only verifies until its time comes, and a secret is deleted once its
successor has been active longer than anything it signed can live.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

_STAMP = "%Y%m%d%H%M%S"
_SECRET_BYTES = 32
LINK_SECRETS = "link-secrets"
# The one undated secret of versions before rotation (a file name, not a secret).
LEGACY_LINK_SECRET = "link-secret"  # noqa: S105


def activation_of(name: str) -> datetime | None:
    """When a secret named ``YYYYmmddHHMMSS-...`` becomes active; None for other names."""
    try:
        return datetime.strptime(name[:14], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def stamped_name(active_from: datetime) -> str:
    return active_from.astimezone(UTC).strftime(_STAMP + "-") + secrets.token_hex(4)


def write_private(path: Path, data: bytes) -> None:
    """O_EXCL + 0600: a secret is never readable by others, not even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def retired(names: list[str], now: datetime, kept: timedelta) -> list[str]:
    """Names whose successor has been active for longer than ``kept``: safe to delete.

    Only names carrying an activation time are judged; the newest active one and
    any staged (future) ones always stay.
    """
    dated = sorted((at, name) for name in names if (at := activation_of(name)) is not None)
    return [
        name
        for (_, name), (successor_from, _) in itertools.pairwise(dated)
        if successor_from <= now - kept
    ]


def after_all(names: list[str], wanted: datetime) -> datetime:
    """``wanted``, or one second after the newest of ``names`` if that is later.

    A new secret must sort after every existing one even when made in the same
    second (names order by time first, and the hex after it is random).
    """
    stamps = [at for name in names if (at := activation_of(name)) is not None]
    newest = max(stamps, default=None)
    return wanted if newest is None or wanted > newest else newest + timedelta(seconds=1)


def _legacy_secret(keys_dir: Path) -> bytes:
    """The undated secret, made on first start (as every version before rotation did)."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = keys_dir / LEGACY_LINK_SECRET
    with contextlib.suppress(FileExistsError):  # made on an earlier start
        write_private(path, secrets.token_bytes(_SECRET_BYTES))
    return path.read_bytes()


WEBHOOK_SECRET = "webhook-secret"  # noqa: S105 - a file name, not a secret


def load_webhook_key(keys_dir: Path) -> bytes:
    """The server key each account's webhook secret derives from; made on first start.

    Not rotated with the link secrets: receivers keep their account's secret. Replacing
    this file (then restarting) changes every account's webhook secret at once.
    """
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = keys_dir / WEBHOOK_SECRET
    with contextlib.suppress(FileExistsError):  # made on an earlier start
        write_private(path, secrets.token_bytes(_SECRET_BYTES))
    return path.read_bytes()


def load_link_secrets(keys_dir: Path, now: datetime) -> tuple[bytes, tuple[bytes, ...]]:
    """``(signing secret, secrets that only verify)``; one is made on first start."""
    folder = keys_dir / LINK_SECRETS
    found = folder.glob("*") if folder.is_dir() else iter(())
    dated = sorted(
        ((at, path) for path in found if (at := activation_of(path.name)) is not None),
        reverse=True,
    )
    if not dated:
        return _legacy_secret(keys_dir), ()
    ordered = [path.read_bytes() for _, path in dated]
    if (keys_dir / LEGACY_LINK_SECRET).exists():
        ordered.append((keys_dir / LEGACY_LINK_SECRET).read_bytes())
    active = next((i for i, (at, _) in enumerate(dated) if at <= now), len(ordered) - 1)
    signing = ordered[active]
    return signing, tuple(s for i, s in enumerate(ordered) if i != active)


def rotate_link_secret(
    keys_dir: Path, now: datetime, active_from: datetime, kept: timedelta
) -> tuple[str, list[str]]:
    """Add a link secret active from ``active_from``; delete those retired longer than ``kept``.

    The undated secret of older versions is first dated by its file's time, so it
    retires like any other. Returns the new name and the names deleted.
    """
    folder = keys_dir / LINK_SECRETS
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    legacy = keys_dir / LEGACY_LINK_SECRET
    if not legacy.exists() and not any(folder.iterdir()):
        _legacy_secret(keys_dir)  # rotating before the first start: there is one to retire
    if legacy.exists():
        made = datetime.fromtimestamp(legacy.stat().st_mtime, UTC).replace(microsecond=0)
        legacy.rename(folder / stamped_name(min(made, now) - timedelta(seconds=1)))
    name = stamped_name(after_all([p.name for p in folder.glob("*")], active_from))
    write_private(folder / name, secrets.token_bytes(_SECRET_BYTES))
    gone = retired([p.name for p in folder.glob("*")], now, kept)
    for old in gone:
        (folder / old).unlink()
    return name, gone
