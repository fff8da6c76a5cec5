"""API keys over real HTTP, against ``cropedly serve`` on SQLite: create, exchange, list, revoke."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from servers import Server, create_user, cropedly, running_server, server_env

EMAIL, PASSWORD = "server-owner@example.com", "a keeper of long passphrases"
KEYS, TOKEN = "/auth/v1/keys", "/auth/v1/token"


def _form(**fields: str) -> dict[str, tuple[None, str]]:
    return {name: (None, value) for name, value in fields.items()}


def _payload(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp_path = tmp_path_factory.mktemp("keys")
    env = server_env(tmp_path)
    create_user(env, EMAIL, PASSWORD, "Owner", "pro")
    return env


@pytest.fixture(scope="module")
def server(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(env, tmp_path_factory.mktemp("keys-server")) as running:
        yield running


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base, timeout=30.0) as client:
        yield client


@pytest.fixture
def owner(http: httpx.Client) -> dict[str, str]:
    login = http.post("/auth/v1/login", files=_form(email=EMAIL, password=PASSWORD))
    assert 200 == login.status_code, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


class TestApiKeys:
    def test_create_exchange_list_revoke(self, http: httpx.Client, owner: dict[str, str]) -> None:
        """The whole life of a key: shown once, exchanged for a normal JWT, listed, revoked."""
        created = http.post(KEYS, headers=owner, files=_form(name="CI server"))
        assert 201 == created.status_code, created.text
        body = created.json()
        key = body["key"]
        assert key.startswith("cpk_")
        assert 47 == len(key)  # "cpk_" and 256 bits in base64url
        assert key.startswith(body["prefix"])
        assert body["lastUsedAt"] is None

        exchanged = http.post(TOKEN, files=_form(apiKey=key))
        assert 200 == exchanged.status_code, exchanged.text
        token = exchanged.json()["token"]
        claims = _payload(token)
        assert {"sub", "name", "authorities", "iat", "exp"} <= set(claims)
        assert 72 * 3600 == claims["exp"] - claims["iat"]
        assert "PLAN_PRO" in claims["authorities"]
        me = http.get("/auth/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert EMAIL == me.json()["email"]

        listed = http.get(KEYS, headers=owner).json()
        [mine] = [k for k in listed if k["id"] == body["id"]]
        assert {"id", "name", "prefix", "createdAt", "lastUsedAt"} == set(mine)
        assert mine["lastUsedAt"] is not None
        assert key not in json.dumps(listed)  # the key itself is never shown again

        assert 204 == http.delete(f"{KEYS}/{body['id']}", headers=owner).status_code
        refused = http.post(TOKEN, files=_form(apiKey=key))
        assert 401 == refused.status_code
        assert refused.json()["type"].endswith("/invalid-api-key")
        assert body["id"] not in [k["id"] for k in http.get(KEYS, headers=owner).json()]

    def test_keys_carry_the_plan_of_the_moment(
        self, http: httpx.Client, owner: dict[str, str], env: dict[str, str]
    ) -> None:
        """A plan changed after the key was made shows in the next exchange's token."""
        key = http.post(KEYS, headers=owner, files=_form(name="plan check")).json()["key"]
        changed = cropedly(env, "users", "set-plan", "--email", EMAIL, "--plan", "enterprise")
        assert 0 == changed.returncode, changed.stderr
        try:
            token = http.post(TOKEN, files=_form(apiKey=key)).json()["token"]
            assert "PLAN_ENTERPRISE" in _payload(token)["authorities"]
        finally:
            cropedly(env, "users", "set-plan", "--email", EMAIL, "--plan", "pro")

    def test_another_account_cannot_revoke_or_see_a_key(
        self, http: httpx.Client, owner: dict[str, str]
    ) -> None:
        """Keys are per account: someone else's id is 404 and stays usable."""
        created = http.post(KEYS, headers=owner, files=_form(name="mine")).json()
        other_email = "other-key-owner@example.com"
        http.post(
            "/auth/v1/register",
            files=_form(email=other_email, password="another long passphrase", name="Zed"),
        )
        other_token = http.post(
            "/auth/v1/login", files=_form(email=other_email, password="another long passphrase")
        ).json()["token"]
        other = {"Authorization": f"Bearer {other_token}"}
        assert 404 == http.delete(f"{KEYS}/{created['id']}", headers=other).status_code
        assert [] == http.get(KEYS, headers=other).json()
        assert 200 == http.post(TOKEN, files=_form(apiKey=created["key"])).status_code

    @pytest.mark.parametrize(
        "key", ["", "cpk_", "cpk_" + "A" * 43, "not a key", "cpk_" + "x" * 124]
    )
    def test_unknown_or_malformed_keys_are_401(self, http: httpx.Client, key: str) -> None:
        answer = http.post(TOKEN, files=_form(apiKey=key))
        assert answer.status_code in (401, 422), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")

    def test_without_a_token_keys_are_401(self, http: httpx.Client) -> None:
        assert 401 == http.get(KEYS).status_code
        assert 401 == http.post(KEYS, files=_form(name="x")).status_code


def test_keys_survive_a_restart(env: dict[str, str], tmp_path: Path) -> None:
    """Keys live in SQLite: one made before a restart still exchanges after it."""
    with running_server(env, tmp_path) as first, httpx.Client(base_url=first.base) as http:
        token = http.post("/auth/v1/login", files=_form(email=EMAIL, password=PASSWORD)).json()
        key = http.post(
            KEYS,
            headers={"Authorization": f"Bearer {token['token']}"},
            files=_form(name="restart"),
        ).json()["key"]
    with running_server(env, tmp_path) as second, httpx.Client(base_url=second.base) as http:
        assert 200 == http.post(TOKEN, files=_form(apiKey=key)).status_code
