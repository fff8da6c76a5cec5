"""Rotating the JWT signing keys and the link secret: old ones verify, then retire."""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cropedly_adapters.jose_tokens import (
    RETIRED_KEY_KEPT,
    JwtTokens,
    load_or_create_keys,
    new_key,
    rotate_keys,
)
from cropedly_adapters.secret_files import (
    LEGACY_LINK_SECRET,
    LINK_SECRETS,
    load_link_secrets,
    retired,
    rotate_link_secret,
)
from cropedly_core.errors import LinkInvalid
from cropedly_core.links import LinkSigner
from cropedly_core.users import Plan, User

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ANN = User(
    id="u-ann",
    email="ann@example.com",
    name="Ann",
    plan=Plan.PRO,
    password_hash=None,
    created_at=NOW,
)


def kid_of(token: str) -> str:
    header = token.split(".", maxsplit=1)[0]
    return str(json.loads(urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


class TestLinkSigner:
    def test_links_of_a_previous_secret_still_check(self) -> None:
        old, new = LinkSigner(b"o" * 32), LinkSigner(b"n" * 32, (b"o" * 32,))
        stamp, signature = old.sign("result", "r1", NOW + HOUR)
        assert stamp == new.check("result", "r1", str(stamp), signature, NOW)
        assert new.sign("result", "r1", NOW + HOUR) != (stamp, signature)  # the new one signs

    def test_a_secret_no_longer_kept_is_refused(self) -> None:
        stamp, signature = LinkSigner(b"o" * 32).sign("result", "r1", NOW + HOUR)
        with pytest.raises(LinkInvalid):
            LinkSigner(b"n" * 32, (b"x" * 32,)).check("result", "r1", str(stamp), signature, NOW)

    def test_previous_secrets_must_be_long_enough(self) -> None:
        with pytest.raises(ValueError, match="32 bytes"):
            LinkSigner(b"n" * 32, (b"short",))


class TestJwtKeys:
    def test_the_newest_active_key_signs_and_every_key_verifies(self) -> None:
        old, current = new_key(NOW - 10 * HOUR), new_key(NOW - HOUR)
        staged = new_key(NOW + HOUR)
        tokens = JwtTokens([staged, current, old], "cropedly", "cropedly-api")
        assert current.kid == kid_of(tokens.issue(ANN, NOW).token)
        later = tokens.issue(ANN, NOW + 2 * HOUR).token
        assert staged.kid == kid_of(later)  # takes over at its time, without a restart
        assert ANN.id == tokens.verify(later, NOW + 2 * HOUR).sub
        only_old = JwtTokens([old], "cropedly", "cropedly-api").issue(ANN, NOW).token
        assert ANN.id == tokens.verify(only_old, NOW).sub

    def test_rotate_keeps_the_previous_key_until_its_tokens_expire(self, tmp_path: Path) -> None:
        """Also when both are made in the same second: the new one must sign."""
        folder = tmp_path / "keys"
        now = datetime.now(UTC).replace(microsecond=0)
        first = load_or_create_keys(folder)[0].kid
        second, gone = rotate_keys(folder, now, now)
        assert [] == gone
        tokens = JwtTokens(load_or_create_keys(folder), "cropedly", "cropedly-api")
        assert second == kid_of(tokens.issue(ANN, now + timedelta(seconds=1)).token)
        # Just before the last token of the first key expires, it is still kept...
        soon, later = now + RETIRED_KEY_KEPT - HOUR, now + RETIRED_KEY_KEPT + HOUR
        _, gone = rotate_keys(folder, soon, soon)
        assert first in {p.stem for p in folder.glob("*.pem")}
        assert [] == gone
        # ...and goes after.
        _, gone = rotate_keys(folder, later, later)
        assert first in gone
        assert first not in {p.stem for p in folder.glob("*.pem")}
        assert second in {p.stem for p in folder.glob("*.pem")}  # its successor is young


class TestRetired:
    def test_only_names_whose_successor_is_old_enough(self) -> None:
        names = [
            "20260101000000-aaaa",  # succeeded on 02-01: retired long ago
            "20260201000000-bbbb",  # succeeded at NOW - 1 h: still kept
            "20260301110000-cccc",  # signs now
            "20260401000000-dddd",  # staged
            "hand-made-name",  # never judged
        ]
        assert ["20260101000000-aaaa"] == retired(names, NOW, 24 * HOUR)


class TestLinkSecrets:
    def test_first_start_makes_the_undated_secret(self, tmp_path: Path) -> None:
        signing, previous = load_link_secrets(tmp_path, NOW)
        assert (tmp_path / LEGACY_LINK_SECRET).read_bytes() == signing
        assert () == previous
        assert (signing, ()) == load_link_secrets(tmp_path, NOW)

    def test_rotation_signs_with_the_new_secret_and_keeps_the_old(self, tmp_path: Path) -> None:
        now = datetime.now(UTC)
        legacy, _ = load_link_secrets(tmp_path, now)
        name, gone = rotate_link_secret(tmp_path, now, now, 25 * HOUR)
        assert [] == gone
        assert not (tmp_path / LEGACY_LINK_SECRET).exists()  # dated, in the folder now
        signing, previous = load_link_secrets(tmp_path, now + timedelta(seconds=1))
        assert (tmp_path / LINK_SECRETS / name).read_bytes() == signing
        assert (legacy,) == previous
        old_link = LinkSigner(legacy).sign("result", "r", NOW + HOUR)
        LinkSigner(signing, previous).check("result", "r", str(old_link[0]), old_link[1], NOW)

    def test_a_staged_secret_only_verifies_until_its_time(self, tmp_path: Path) -> None:
        current, _ = load_link_secrets(tmp_path, NOW)
        name, _ = rotate_link_secret(tmp_path, NOW, NOW + HOUR, 25 * HOUR)
        staged = (tmp_path / LINK_SECRETS / name).read_bytes()
        assert (current, (staged,)) == load_link_secrets(tmp_path, NOW)
        assert (staged, (current,)) == load_link_secrets(tmp_path, NOW + 2 * HOUR)

    def test_old_secrets_go_once_their_links_have_expired(self, tmp_path: Path) -> None:
        rotate_link_secret(tmp_path, NOW, NOW, 25 * HOUR)
        _, gone = rotate_link_secret(tmp_path, NOW + 26 * HOUR, NOW + 26 * HOUR, 25 * HOUR)
        assert 1 == len(gone)  # the first (the dated legacy one); the second stays
        assert 2 == len(list((tmp_path / LINK_SECRETS).glob("*")))
