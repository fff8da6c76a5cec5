"""Forgot / reset password over HTTP, with the in-memory outbox."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from litestar.testing import TestClient

from cropedly.bootstrap import Services
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_adapters.memory import InMemoryMailer, ManualClock
from cropedly_core.users import Plan
from doubles import in_memory_services

NEW_PASSWORD = "a brand new passphrase"
_TOKEN = re.compile(r"^    (\S+\.\d+\.\S+)$", re.MULTILINE)


@pytest.fixture
def outbox() -> InMemoryMailer:
    return InMemoryMailer()


@pytest.fixture
def services(clock: ManualClock, outbox: InMemoryMailer) -> Services:
    services = in_memory_services(Settings(upscaler="lanczos"), clock=clock, mail=outbox)
    services.accounts.register("google@example.com", None, "Gina Google", Plan.PRO)
    return services


@pytest.fixture
def http(services: Services) -> TestClient:  # type: ignore[type-arg]
    with TestClient(app=create_app(services)) as test_client:
        yield test_client


def _forgot(http: TestClient, email: str) -> int:  # type: ignore[type-arg]
    return http.post("/auth/v1/forgot-password", files={"email": (None, email)}).status_code


def _reset(http: TestClient, token: str, password: str = NEW_PASSWORD) -> object:  # type: ignore[type-arg]
    return http.post(
        "/auth/v1/reset-password", files={"token": (None, token), "password": (None, password)}
    )


def _login(http: TestClient, password: str = NEW_PASSWORD) -> int:  # type: ignore[type-arg]
    files = {"email": (None, "google@example.com"), "password": (None, password)}
    return http.post("/auth/v1/login", files=files).status_code


def _mailed_token(outbox: InMemoryMailer) -> str:
    found = _TOKEN.search(outbox.outbox[-1].body)
    assert found is not None
    return found.group(1)


class TestForgotPassword:
    def test_a_google_user_sets_a_first_password(
        self, http: TestClient, outbox: InMemoryMailer
    ) -> None:  # type: ignore[type-arg]
        """Forgot → mail → reset → the new password logs in."""
        assert 401 == _login(http)
        assert 202 == _forgot(http, "Google@Example.com")
        assert ["google@example.com"] == [m.to for m in outbox.outbox]
        assert 204 == _reset(http, _mailed_token(outbox)).status_code  # type: ignore[attr-defined]
        assert 200 == _login(http)

    def test_unknown_emails_get_the_same_answer_and_no_mail(
        self,
        http: TestClient,
        outbox: InMemoryMailer,  # type: ignore[type-arg]
    ) -> None:
        """Unknown and malformed e-mails: 202 as for a real account, nothing sent."""
        assert 202 == _forgot(http, "nobody@example.com")
        assert 202 == _forgot(http, "not an e-mail")
        assert [] == outbox.outbox

    def test_requests_are_throttled_per_email(self, http: TestClient) -> None:  # type: ignore[type-arg]
        """A fourth request within 30 minutes is refused with 429 (no mail bombing)."""
        assert [202, 202, 202, 429] == [_forgot(http, "google@example.com") for _ in range(4)]


class TestResetPassword:
    def test_a_token_works_once(self, http: TestClient, outbox: InMemoryMailer) -> None:  # type: ignore[type-arg]
        """The second use of a token is refused: the password change bumped the version."""
        _forgot(http, "google@example.com")
        token = _mailed_token(outbox)
        assert 204 == _reset(http, token).status_code  # type: ignore[attr-defined]
        assert 403 == _reset(http, token, "another long passphrase").status_code  # type: ignore[attr-defined]

    def test_a_token_expires_after_30_minutes(
        self,
        http: TestClient,
        outbox: InMemoryMailer,
        clock: ManualClock,  # type: ignore[type-arg]
    ) -> None:
        """An expired token is 403 link-invalid."""
        _forgot(http, "google@example.com")
        clock.advance(timedelta(minutes=31))
        response = _reset(http, _mailed_token(outbox))
        assert 403 == response.status_code  # type: ignore[attr-defined]
        assert response.json()["type"].endswith("/link-invalid")  # type: ignore[attr-defined]

    def test_reset_revokes_older_login_tokens(
        self,
        http: TestClient,
        services: Services,
        outbox: InMemoryMailer,  # type: ignore[type-arg]
    ) -> None:
        """A JWT issued before the reset no longer authenticates."""
        services.accounts.set_password(
            services.accounts.users.get_by_email("google@example.com").id,  # type: ignore[union-attr]
            "first long passphrase",
        )
        old = services.accounts.login("google@example.com", "first long passphrase").token
        _forgot(http, "google@example.com")
        _reset(http, _mailed_token(outbox))
        me = http.get("/auth/v1/me", headers={"Authorization": f"Bearer {old}"})
        assert 401 == me.status_code

    @pytest.mark.parametrize("token", ["", "abc", "a.b.c", "Z29vZ2xl.1.sig", "!!!.1.x"])
    def test_malformed_or_forged_tokens_are_refused(self, http: TestClient, token: str) -> None:  # type: ignore[type-arg]
        """Garbage and forged tokens get a 4xx problem, never a 500."""
        response = _reset(http, token)
        assert response.status_code in (400, 403)  # type: ignore[attr-defined]
        assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]

    def test_a_weak_new_password_is_refused_and_the_token_stays_valid(
        self,
        http: TestClient,
        outbox: InMemoryMailer,  # type: ignore[type-arg]
    ) -> None:
        """422 weak-password; the token still works for a good password."""
        _forgot(http, "google@example.com")
        token = _mailed_token(outbox)
        weak = _reset(http, token, "short")
        assert 422 == weak.status_code  # type: ignore[attr-defined]
        assert 204 == _reset(http, token).status_code  # type: ignore[attr-defined]


def test_reset_mail_failure_is_not_revealed(clock: ManualClock) -> None:
    """With no SMTP configured the caller still gets 202; the failure is only logged."""
    services = in_memory_services(Settings(upscaler="lanczos"), clock=clock)
    from cropedly_adapters.smtp_mailer import NoMailer  # noqa: PLC0415

    services.resets.mailer = NoMailer()
    services.accounts.register("u@example.com", None, "U", Plan.FREE)
    with TestClient(app=create_app(services)) as http:
        assert 202 == _forgot(http, "u@example.com")
