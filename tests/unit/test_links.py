"""``LinkSigner``: signed links round-trip and any change to them is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cropedly_core.errors import LinkInvalid
from cropedly_core.links import LinkSigner

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SIGNER = LinkSigner(b"k" * 32)

# Kinds are constants of the server ("result", "catalog"); they never hold the
# newline that separates the signed fields, so that is left out here.
kinds = st.text(st.characters(blacklist_characters="\n"), min_size=1, max_size=20)
ids = st.text(min_size=1, max_size=40)
# Whole seconds: the link carries Unix seconds, so a sub-second expiry is rounded down.
lifetimes = st.integers(1, 10 * 365 * 24 * 3600).map(lambda s: timedelta(seconds=s))


def signed(kind: str, resource_id: str, lifetime: timedelta) -> tuple[str, str]:
    stamp, signature = SIGNER.sign(kind, resource_id, NOW + lifetime)
    return str(stamp), signature


class TestLinkSigner:
    @given(kind=kinds, resource_id=ids, lifetime=lifetimes)
    def test_round_trip(self, kind: str, resource_id: str, lifetime: timedelta) -> None:
        """A link signed for the future checks out and returns its expiry."""
        expires, signature = signed(kind, resource_id, lifetime)
        assert int((NOW + lifetime).timestamp()) == SIGNER.check(
            kind, resource_id, expires, signature, NOW
        )

    @given(kind=kinds, other=kinds, resource_id=ids, lifetime=lifetimes)
    def test_other_kind_fails(
        self, kind: str, other: str, resource_id: str, lifetime: timedelta
    ) -> None:
        """A signature for one kind does not check for another."""
        assume(kind != other)
        expires, signature = signed(kind, resource_id, lifetime)
        with pytest.raises(LinkInvalid):
            SIGNER.check(other, resource_id, expires, signature, NOW)

    @given(kind=kinds, resource_id=ids, other=ids, lifetime=lifetimes)
    def test_other_id_fails(
        self, kind: str, resource_id: str, other: str, lifetime: timedelta
    ) -> None:
        """A signature for one id does not check for another."""
        assume(resource_id != other)
        expires, signature = signed(kind, resource_id, lifetime)
        with pytest.raises(LinkInvalid):
            SIGNER.check(kind, other, expires, signature, NOW)

    @given(kind=kinds, resource_id=ids, lifetime=lifetimes, shift=st.integers(-(10**9), 10**9))
    def test_other_expiry_fails(
        self, kind: str, resource_id: str, lifetime: timedelta, shift: int
    ) -> None:
        """Moving the expiry by any number of seconds breaks the signature."""
        assume(shift != 0)
        expires, signature = signed(kind, resource_id, lifetime)
        with pytest.raises(LinkInvalid):
            SIGNER.check(kind, resource_id, str(int(expires) + shift), signature, NOW)

    @given(kind=kinds, resource_id=ids, lifetime=lifetimes, data=st.data())
    def test_changed_signature_fails(
        self, kind: str, resource_id: str, lifetime: timedelta, data: st.DataObject
    ) -> None:
        """Changing, cutting or extending the signature in any way is refused."""
        expires, signature = signed(kind, resource_id, lifetime)
        forged = data.draw(st.text(max_size=60), label="forged")
        assume(forged != signature)
        with pytest.raises(LinkInvalid):
            SIGNER.check(kind, resource_id, expires, forged, NOW)

    @given(kind=kinds, resource_id=ids, age=st.integers(0, 10**8))
    def test_expired_fails(self, kind: str, resource_id: str, age: int) -> None:
        """A link whose expiry is now or in the past is refused, signature or not."""
        expires, signature = signed(kind, resource_id, -timedelta(seconds=age))
        with pytest.raises(LinkInvalid, match="expired"):
            SIGNER.check(kind, resource_id, expires, signature, NOW)

    def test_other_secret_fails(self) -> None:
        """A link signed with another secret does not check."""
        expires, signature = signed("result", "abc", timedelta(hours=1))
        with pytest.raises(LinkInvalid):
            LinkSigner(b"x" * 32).check("result", "abc", expires, signature, NOW)

    @pytest.mark.parametrize("expires", ["", "soon", "1.5", "0x10"])
    def test_malformed_expiry_fails(self, expires: str) -> None:
        """An expiry that is not a whole number is refused as malformed."""
        with pytest.raises(LinkInvalid, match="malformed"):
            SIGNER.check("result", "abc", expires, "sig", NOW)

    def test_short_secret_is_refused(self) -> None:
        """A secret under 32 bytes cannot build a signer."""
        with pytest.raises(ValueError, match="32 bytes"):
            LinkSigner(b"k" * 31)

    def test_secret_not_in_repr(self) -> None:
        """The secret never shows in the signer's repr (logs, tracebacks)."""
        assert "kkkk" not in repr(SIGNER)
