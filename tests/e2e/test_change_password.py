"""``POST /auth/v1/password``: a signed-in user changes the password; older tokens stop working."""

from __future__ import annotations

from litestar.testing import TestClient

from cropedly.bootstrap import Services
from cropedly_core.users import Plan
from imaging import PASSWORD, bearer

NEW = "an entirely new passphrase"
CHANGE = "/auth/v1/password"


def _form(**fields: str) -> dict[str, tuple[None, str]]:
    return {name: (None, value) for name, value in fields.items()}


class TestChangePassword:
    def test_the_new_password_works_and_old_tokens_do_not(
        self,
        client: TestClient,
        memory_services: Services,  # type: ignore[type-arg]
    ) -> None:
        """200 with a fresh token; the token used to ask is refused afterwards; the new password logs in."""
        old = bearer(memory_services, "ann@example.com", Plan.FREE)
        changed = client.post(
            CHANGE, headers=old, files=_form(currentPassword=PASSWORD, newPassword=NEW)
        )
        assert 200 == changed.status_code, changed.text
        assert {"token", "tokenType", "expiresAt"} == set(changed.json())
        assert 401 == client.get("/auth/v1/me", headers=old).status_code
        fresh = {"Authorization": f"Bearer {changed.json()['token']}"}
        assert 200 == client.get("/auth/v1/me", headers=fresh).status_code
        login = client.post("/auth/v1/login", files=_form(email="ann@example.com", password=NEW))
        assert 200 == login.status_code

    def test_a_wrong_current_password_is_403_and_throttled(
        self,
        client: TestClient,
        memory_services: Services,  # type: ignore[type-arg]
    ) -> None:
        """A stolen token cannot guess the password behind it: 403, then 429 past the limit."""
        auth = bearer(memory_services, "ann@example.com", Plan.FREE)
        wrong = _form(currentPassword="not the password", newPassword=NEW)
        answers = [client.post(CHANGE, headers=auth, files=wrong) for _ in range(6)]
        assert [403] * 5 + [429] == [a.status_code for a in answers]
        assert answers[0].json()["type"].endswith("/current-password-wrong")
        assert 200 == client.get("/auth/v1/me", headers=auth).status_code  # nothing changed

    def test_a_weak_new_password_is_422_with_the_reason(
        self,
        client: TestClient,
        memory_services: Services,  # type: ignore[type-arg]
    ) -> None:
        """The policy applies to changes too, and says why."""
        auth = bearer(memory_services, "ann@example.com", Plan.FREE)
        weak = client.post(
            CHANGE, headers=auth, files=_form(currentPassword=PASSWORD, newPassword="qwertyuiop")
        )
        assert 422 == weak.status_code
        assert "breached" in weak.json()["detail"]

    def test_a_google_account_is_sent_to_forgot_password(
        self,
        client: TestClient,
        memory_services: Services,  # type: ignore[type-arg]
    ) -> None:
        """An account without a password has no current one to give: 403 naming forgot-password."""
        user = memory_services.accounts.register("g@example.com", None, "G")
        token = memory_services.accounts.issuer.issue(user, memory_services.clock.now()).token
        answer = client.post(
            CHANGE,
            headers={"Authorization": f"Bearer {token}"},
            files=_form(currentPassword="anything at all", newPassword=NEW),
        )
        assert 403 == answer.status_code
        assert "forgot-password" in answer.json()["detail"]

    def test_without_a_token_it_is_401(self, client: TestClient) -> None:  # type: ignore[type-arg]
        answer = client.post(CHANGE, files=_form(currentPassword=PASSWORD, newPassword=NEW))
        assert 401 == answer.status_code
