"""The verified-token cache of ``JwtTokens`` changes speed, never answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cropedly_adapters.jose_tokens import JwtTokens
from cropedly_core.errors import InvalidToken
from cropedly_core.users import Plan, User

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
USER = User(
    id="u1", email="a@example.com", name="A", plan=Plan.PRO, password_hash=None, created_at=NOW
)


class TestVerifiedTokenCache:
    def test_a_cached_token_still_expires(self) -> None:
        """Verified once, the same token is refused after its exp."""
        tokens = JwtTokens.generate()
        token = tokens.issue(USER, NOW).token
        assert "u1" == tokens.verify(token, NOW).sub
        with pytest.raises(InvalidToken):
            tokens.verify(token, NOW + timedelta(hours=72))

    def test_a_cached_token_is_not_valid_before_its_iat(self) -> None:
        """A clock far behind the token's iat refuses it, cached or not."""
        tokens = JwtTokens.generate()
        token = tokens.issue(USER, NOW).token
        tokens.verify(token, NOW)
        with pytest.raises(InvalidToken):
            tokens.verify(token, NOW - timedelta(hours=1))

    def test_a_tampered_copy_of_a_cached_token_is_refused(self) -> None:
        """The cache is keyed by the whole token: one changed character misses it."""
        tokens = JwtTokens.generate()
        token = tokens.issue(USER, NOW).token
        tokens.verify(token, NOW)
        tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        with pytest.raises(InvalidToken):
            tokens.verify(tampered, NOW)

    def test_the_cache_is_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Past its size the oldest entries go (memory stays bounded)."""
        monkeypatch.setattr("cropedly_adapters.jose_tokens._CACHE_SIZE", 3)
        tokens = JwtTokens.generate()
        for _ in range(5):
            tokens.verify(tokens.issue(USER, NOW).token, NOW)
        assert 3 == len(tokens._verified)
