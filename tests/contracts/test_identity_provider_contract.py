"""The ``IdentityProvider`` contract: the in-memory provider and OpenID Connect over loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cropedly_adapters.authlib_oidc import OidcProvider
from cropedly_adapters.memory import InMemoryIdentityProvider
from cropedly_core.sign_in import IdentityProvider, SignInRefused, VerifiedIdentity
from oidc_provider import CLIENT_ID, CLIENT_SECRET, running_provider

Approve = Callable[[str], tuple[str, str]]
GINA = VerifiedIdentity(
    subject="google-sub-1", email="gina@example.com", email_verified=True, name="Gina Google"
)


def _approve_over_http(url: str) -> tuple[str, str]:
    """The browser's trip: the provider redirects back with code and state."""
    back = urlsplit(httpx.get(url, follow_redirects=False).headers["location"])
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    return query["code"], query["state"]


@pytest.fixture(params=["memory", "oidc"])
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[IdentityProvider, Approve]]:
    if request.param == "memory":
        memory = InMemoryIdentityProvider(GINA)
        yield memory, memory.approve
        return
    with running_provider() as loopback:
        oidc = OidcProvider(
            loopback.issuer, CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1:8000/callback"
        )
        yield oidc, _approve_over_http


class TestIdentityProviderContract:
    def test_an_approved_sign_in_gives_the_identity(
        self, provider: tuple[IdentityProvider, Approve]
    ) -> None:
        """begin -> approve -> finish with the same nonce and verifier: the person, verified."""
        idp, approve = provider
        started = idp.begin()
        code, state = approve(started.url)
        assert started.state == state
        assert GINA == idp.finish(code, started.nonce, started.verifier)

    def test_each_sign_in_is_fresh(self, provider: tuple[IdentityProvider, Approve]) -> None:
        """state, nonce and verifier are new every time, and long enough (>= 256 bits)."""
        idp, _ = provider
        first, second = idp.begin(), idp.begin()
        for value in (first.state, first.nonce, first.verifier):
            assert len(value) >= 43
        assert first.state != second.state
        assert first.nonce != second.nonce
        assert first.verifier != second.verifier

    def test_a_code_works_once(self, provider: tuple[IdentityProvider, Approve]) -> None:
        idp, approve = provider
        started = idp.begin()
        code, _ = approve(started.url)
        idp.finish(code, started.nonce, started.verifier)
        with pytest.raises(SignInRefused):
            idp.finish(code, started.nonce, started.verifier)

    def test_another_sign_ins_verifier_is_refused(
        self, provider: tuple[IdentityProvider, Approve]
    ) -> None:
        """PKCE: a code stolen from one sign-in cannot finish another."""
        idp, approve = provider
        started, other = idp.begin(), idp.begin()
        code, _ = approve(started.url)
        with pytest.raises(SignInRefused):
            idp.finish(code, started.nonce, other.verifier)

    def test_another_sign_ins_nonce_is_refused(
        self, provider: tuple[IdentityProvider, Approve]
    ) -> None:
        idp, approve = provider
        started, other = idp.begin(), idp.begin()
        code, _ = approve(started.url)
        with pytest.raises(SignInRefused, match="nonce"):
            idp.finish(code, other.nonce, started.verifier)
