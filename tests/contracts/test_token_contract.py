"""The ``TokenIssuer``/``TokenVerifier`` contract: opaque in-memory tokens and Ed25519 JWTs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings

from cropedly_adapters.jose_tokens import JwtTokens
from cropedly_adapters.memory import InMemoryTokens
from cropedly_core.errors import InvalidToken
from cropedly_core.tokens import TOKEN_LIFETIME
from cropedly_core.users import Plan, Role, User
from strategies import users

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
ANN = User(
    id="0f" * 16,
    email="ann@example.com",
    name="Ann Example",
    plan=Plan.PRO,
    password_hash=None,
    created_at=NOW,
    token_version=4,
    roles=frozenset({Role.USER, Role.ADMIN}),
)


@pytest.fixture(scope="module", params=["memory", "jwt"])
def tokens(request: pytest.FixtureRequest) -> InMemoryTokens | JwtTokens:
    return InMemoryTokens() if request.param == "memory" else JwtTokens.generate()


class TestTokenContract:
    def test_issued_token_verifies_to_its_claims(self, tokens: InMemoryTokens | JwtTokens) -> None:
        """Verification returns exactly the claims the grant announced."""
        grant = tokens.issue(ANN, NOW)
        assert grant.claims == tokens.verify(grant.token, NOW)

    def test_claims_describe_the_user(self, tokens: InMemoryTokens | JwtTokens) -> None:
        """sub is the user id, with name, authorities and token version of the user."""
        claims = tokens.issue(ANN, NOW).claims
        assert ANN.id == claims.sub
        assert "Ann Example" == claims.name
        assert ("ROLE_ADMIN", "ROLE_USER", "PLAN_PRO") == claims.authorities
        assert 4 == claims.token_version

    def test_lifetime_is_exactly_72_hours(self, tokens: InMemoryTokens | JwtTokens) -> None:
        """exp is iat + 72 h, iat is now to the second, and the grant says when it expires."""
        grant = tokens.issue(ANN, NOW)
        assert NOW.replace(microsecond=0) == grant.claims.iat
        assert grant.claims.iat + timedelta(hours=72) == grant.claims.exp
        assert grant.claims.exp == grant.expires_at
        assert timedelta(hours=72) == TOKEN_LIFETIME

    def test_valid_until_the_last_second(self, tokens: InMemoryTokens | JwtTokens) -> None:
        """A token works one second before exp and is refused at exp and after."""
        grant = tokens.issue(ANN, NOW)
        tokens.verify(grant.token, grant.expires_at - timedelta(seconds=1))
        for later in (grant.expires_at, grant.expires_at + timedelta(days=1)):
            with pytest.raises(InvalidToken):
                tokens.verify(grant.token, later)

    def test_each_token_is_unique(self, tokens: InMemoryTokens | JwtTokens) -> None:
        """Two tokens for the same user in the same second differ, as do their jti."""
        first, second = tokens.issue(ANN, NOW), tokens.issue(ANN, NOW)
        assert first.token != second.token
        assert first.claims.jti != second.claims.jti

    @pytest.mark.parametrize("bad", ["", "x", "a.b", "a.b.c", "...", "\x00" * 10])
    def test_garbage_is_refused(self, tokens: InMemoryTokens | JwtTokens, bad: str) -> None:
        """Anything not issued here raises InvalidToken (never another exception)."""
        with pytest.raises(InvalidToken):
            tokens.verify(bad, NOW)

    def test_tokens_of_another_instance_are_refused(
        self, tokens: InMemoryTokens | JwtTokens
    ) -> None:
        """A token from an independent issuer of the same kind does not verify here."""
        other = InMemoryTokens() if isinstance(tokens, InMemoryTokens) else JwtTokens.generate()
        with pytest.raises(InvalidToken):
            tokens.verify(other.issue(ANN, NOW).token, NOW)

    @settings(max_examples=25, deadline=None)
    @given(user=users())
    def test_any_user_round_trips(self, tokens: InMemoryTokens | JwtTokens, user: User) -> None:
        """Any storable user (odd names, any roles and plan) gets a token that verifies."""
        grant = tokens.issue(user, NOW)
        claims = tokens.verify(grant.token, NOW)
        assert user.id == claims.sub
        assert user.name == claims.name
        assert tuple(user.authorities) == claims.authorities
        assert user.token_version == claims.token_version
