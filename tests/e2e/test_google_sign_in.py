"""Sign in with Google, the whole OpenID Connect flow against a loopback provider.

The app is real (Litestar, our OIDC adapter over real HTTP); the provider is
``tests/oidc_provider.py`` on 127.0.0.1, so nothing leaves the machine. Each
refusal bends one thing: state, nonce, audience, expiry, signature, e-mail.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar.testing import TestClient

from cropedly.bootstrap import Services
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_core.users import Plan
from doubles import in_memory_services
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider
from servers import running_server, server_env

LOGIN, CALLBACK = "/auth/v1/google/login", "/auth/v1/google/callback"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


@pytest.fixture
def services(provider: Provider) -> Services:
    settings = Settings(
        upscaler="lanczos",
        google_issuer=provider.issuer,
        google_client_id=CLIENT_ID,
        google_client_secret=CLIENT_SECRET,
    )
    return in_memory_services(settings)


@pytest.fixture
def http(services: Services) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(services)) as client:
        yield client


def start(http: TestClient) -> str:  # type: ignore[type-arg]
    """GET /login; the provider's authorization URL it redirects to."""
    login = http.get(LOGIN, follow_redirects=False)
    assert 302 == login.status_code, login.text
    return str(login.headers["location"])


def approve(authorize_url: str) -> str:
    """The provider approves at once: the path and query of our callback it sends back."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert 302 == answer.status_code
    back = urlsplit(answer.headers["location"])
    return f"{back.path}?{back.query}"


def sign_in(http: TestClient) -> httpx.Response:  # type: ignore[type-arg]
    return http.get(approve(start(http)), follow_redirects=False)


def token_of(response: httpx.Response) -> str:
    assert 303 == response.status_code, response.text
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:8000/console#token=")
    assert "?" not in location  # never in a query string
    return location.split("#token=", 1)[1]


class TestTheFlow:
    def test_login_redirects_with_state_nonce_and_pkce(
        self,
        http: TestClient,
        provider: Provider,  # type: ignore[type-arg]
    ) -> None:
        """The authorization URL carries state, nonce and an S256 challenge; a cookie remembers them."""
        login = http.get(LOGIN, follow_redirects=False)
        query = {k: v[0] for k, v in parse_qs(urlsplit(login.headers["location"]).query).items()}
        assert login.headers["location"].startswith(f"{provider.issuer}/authorize?")
        assert "code" == query["response_type"]
        assert CLIENT_ID == query["client_id"]
        assert "S256" == query["code_challenge_method"]
        assert 43 == len(query["code_challenge"])
        assert len(query["state"]) >= 43
        assert len(query["nonce"]) >= 43
        assert {"openid", "email"} <= set(query["scope"].split())
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie.replace("Lax", "lax")
        assert "Path=/auth/v1/google" in cookie
        assert CLIENT_SECRET not in login.headers["location"]

    def test_a_new_person_gets_a_free_account_without_password(
        self,
        http: TestClient,
        services: Services,  # type: ignore[type-arg]
    ) -> None:
        """The callback creates the account and hands a working JWT to the console's fragment."""
        token = token_of(sign_in(http))
        me = http.get("/auth/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert 200 == me.status_code
        assert ("gina@example.com", "free", "Gina Google") == (
            me.json()["email"],
            me.json()["plan"],
            me.json()["name"],
        )
        user = services.accounts.users.get_by_email("gina@example.com")
        assert user is not None
        assert user.password_hash is None

    def test_signing_in_again_finds_the_same_account(
        self,
        http: TestClient,
        services: Services,  # type: ignore[type-arg]
    ) -> None:
        token_of(sign_in(http))
        token_of(sign_in(http))
        assert 1 == len(services.accounts.users.list())

    def test_a_password_account_with_the_same_email_is_linked(
        self,
        http: TestClient,
        services: Services,
        provider: Provider,  # type: ignore[type-arg]
    ) -> None:
        """An existing account with that verified e-mail signs in; no duplicate; its password still works."""
        existing = services.accounts.register(
            "gina@example.com", "her own long passphrase", "Gina", Plan.PRO
        )
        provider.person.email = "Gina@Example.com"
        token = token_of(sign_in(http))
        me = http.get("/auth/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert (existing.id, "pro") == (me["id"], me["plan"])
        assert 1 == len(services.accounts.users.list())
        services.accounts.login("gina@example.com", "her own long passphrase")

    def test_the_login_cookie_is_cleared_and_works_once(
        self,
        http: TestClient,  # type: ignore[type-arg]
    ) -> None:
        """Replaying the callback fails: the code is spent and the cookie gone."""
        callback = approve(start(http))
        token_of(http.get(callback, follow_redirects=False))
        again = http.get(callback, follow_redirects=False)
        assert 401 == again.status_code


def refused(response: httpx.Response, words: str) -> None:
    assert 401 == response.status_code, response.text
    body = response.json()
    assert body["type"].endswith("/sign-in-refused")
    assert words in body["detail"], body["detail"]


class TestRefusals:
    def test_wrong_state(self, http: TestClient) -> None:  # type: ignore[type-arg]
        callback = approve(start(http))
        path, query = callback.split("?")
        params = {k: v[0] for k, v in parse_qs(query).items()}
        tampered = f"{path}?code={params['code']}&state=someone-elses-state"
        refused(http.get(tampered, follow_redirects=False), "state")

    def test_no_login_cookie(self, http: TestClient) -> None:  # type: ignore[type-arg]
        """A callback in a browser that did not start the sign-in (login CSRF) is refused."""
        callback = approve(start(http))
        http.cookies.clear()
        refused(http.get(callback, follow_redirects=False), "cookie")

    def test_wrong_nonce(self, http: TestClient, provider: Provider) -> None:  # type: ignore[type-arg]
        provider.claims = {"nonce": "a-replayed-nonce"}
        refused(sign_in(http), "nonce")

    def test_wrong_audience(self, http: TestClient, provider: Provider) -> None:  # type: ignore[type-arg]
        provider.claims = {"aud": "another-client"}
        refused(sign_in(http), "aud")

    def test_wrong_issuer(self, http: TestClient, provider: Provider) -> None:  # type: ignore[type-arg]
        provider.claims = {"iss": "https://accounts.evil.example"}
        refused(sign_in(http), "iss")

    def test_expired_id_token(self, http: TestClient, provider: Provider) -> None:  # type: ignore[type-arg]
        now = int(time.time())
        provider.claims = {"iat": now - 7200, "exp": now - 3600}
        refused(sign_in(http), "exp")

    def test_badly_signed_id_token(self, http: TestClient, provider: Provider) -> None:  # type: ignore[type-arg]
        """Signed with a key the provider does not publish (same kid): refused."""
        provider.forge = True
        refused(sign_in(http), "signature")

    def test_unverified_email(
        self,
        http: TestClient,
        provider: Provider,
        services: Services,  # type: ignore[type-arg]
    ) -> None:
        """An e-mail the provider did not verify proves nothing: no account, no token."""
        services.accounts.register("gina@example.com", "her own long passphrase", "Gina")
        provider.person.email_verified = False
        refused(sign_in(http), "verified")

    def test_provider_error_answer(self, http: TestClient) -> None:  # type: ignore[type-arg]
        start(http)
        refused(
            http.get(f"{CALLBACK}?error=access_denied", follow_redirects=False), "access_denied"
        )

    @pytest.mark.parametrize(
        "query", ["", "?code=abc", "?state=abc", f"?code={'x' * 5000}&state=s"]
    )
    def test_missing_or_oversized_parameters(self, http: TestClient, query: str) -> None:  # type: ignore[type-arg]
        start(http)
        answer = http.get(f"{CALLBACK}{query}", follow_redirects=False)
        assert answer.status_code in (401, 422), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


class TestConfiguration:
    def test_without_a_client_id_the_routes_are_404(self) -> None:
        """Google sign-in off: a clear problem, not a redirect to nowhere."""
        with TestClient(app=create_app(in_memory_services(Settings(upscaler="lanczos")))) as http:
            for path in (LOGIN, f"{CALLBACK}?code=a&state=b"):
                answer = http.get(path, follow_redirects=False)
                assert 404 == answer.status_code
                assert answer.json()["type"].endswith("/sign-in-not-configured")

    def test_an_unreachable_provider_is_503(self) -> None:
        """Discovery fails: 503 with Retry-After, no traceback."""
        with running_provider() as gone:
            issuer = gone.issuer
        settings = Settings(
            upscaler="lanczos",
            google_issuer=issuer,
            google_client_id=CLIENT_ID,
            google_client_secret=CLIENT_SECRET,
        )
        with TestClient(app=create_app(in_memory_services(settings))) as http:
            answer = http.get(LOGIN, follow_redirects=False)
        assert 503 == answer.status_code
        assert answer.json()["type"].endswith("/sign-in-unavailable")
        assert "Retry-After" in answer.headers

    def test_the_secret_is_in_no_repr(self) -> None:
        settings = Settings(google_client_id=CLIENT_ID, google_client_secret=CLIENT_SECRET)
        services = in_memory_services(settings)
        assert CLIENT_SECRET not in repr(settings)
        assert CLIENT_SECRET not in repr(services.google)

    def test_google_is_the_default_issuer(self) -> None:
        assert "https://accounts.google.com" == Settings().google_issuer


class TestAgainstARealServer:
    def test_the_flow_through_cropedly_serve_leaves_no_token_in_its_log(self, tmp_path) -> None:
        """``cropedly serve`` with the loopback provider: signed in, and the JWT is in no log line."""
        with running_provider() as provider:
            env = server_env(
                tmp_path,
                log_level="INFO",  # uvicorn's access log on
                google_issuer=provider.issuer,
                google_client_id=CLIENT_ID,
                google_client_secret=CLIENT_SECRET,
            )
            with (
                running_server(env, tmp_path) as server,
                httpx.Client(base_url=server.base, timeout=30.0) as browser,
            ):
                login = browser.get(LOGIN, follow_redirects=False)
                assert 302 == login.status_code, login.text
                back = httpx.get(login.headers["location"]).headers["location"]
                assert back.startswith(f"{server.base}{CALLBACK}?")
                done = browser.get(back, follow_redirects=False)
                assert 303 == done.status_code, done.text
                assert done.headers["location"].startswith(f"{server.base}/console#token=")
                token = done.headers["location"].split("#token=", 1)[1]
                me = browser.get("/auth/v1/me", headers={"Authorization": f"Bearer {token}"})
                assert "gina@example.com" == me.json()["email"]
                assert "no-store" == done.headers["cache-control"]
                log = server.stderr.read_text()
        assert CALLBACK in log  # the access log is on
        assert token not in log
        assert token.split(".")[2] not in log
        assert CLIENT_SECRET not in log
