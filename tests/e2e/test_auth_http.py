"""``/auth/v1`` and the meta routes through Litestar's TestClient on in-memory services."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from cropedly.bootstrap import Services
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_adapters.jose_tokens import JwtTokens
from cropedly_adapters.memory import FastPasswordHasher, ManualClock
from cropedly_core.users import Plan
from doubles import in_memory_services

SECRET = "a long enough secret"
LOGIN, REGISTER, ME = "/auth/v1/login", "/auth/v1/register", "/auth/v1/me"


class CountingHasher(FastPasswordHasher):
    """The in-memory hasher, counting verifications (a fake, not a mock)."""

    verifies = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verifies += 1
        return super().verify(password_hash, password)


def form(**fields: str) -> dict[str, Any]:
    """Multipart form fields, as the API consumes them."""
    return {"files": {name: (None, value) for name, value in fields.items()}}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status`` and no internals."""
    assert status == response.status_code, response.text
    assert "application/problem+json" == response.headers["content-type"].split(";")[0]
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert status == body["status"]
    assert body["type"].startswith("https://")
    for leak in ("Traceback", 'File "', "site-packages", "Error("):
        assert leak not in response.text
    return dict(body)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def ann(memory_services: Services) -> str:
    """A Pro account; returns its e-mail."""
    memory_services.accounts.register("ann@example.com", SECRET, "Ann", Plan.PRO)
    return "ann@example.com"


@pytest.fixture
def token(client: TestClient, ann: str) -> str:  # type: ignore[type-arg]
    return str(client.post(LOGIN, **form(email=ann, password=SECRET)).json()["token"])


def app_client(services: Services) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(services)) as test_client:
        yield test_client


class TestLogin:
    def test_success(self, client: TestClient, ann: str, clock: ManualClock) -> None:  # type: ignore[type-arg]
        """200 with exactly token, tokenType=Bearer and expiresAt 72 h ahead."""
        response = client.post(LOGIN, **form(email="ANN@example.com", password=SECRET))
        assert 200 == response.status_code
        body = response.json()
        assert {"token", "tokenType", "expiresAt"} == body.keys()
        assert "Bearer" == body["tokenType"]
        expires = datetime.fromisoformat(body["expiresAt"])
        assert clock.now() + timedelta(hours=72) == expires
        assert body["expiresAt"].endswith("Z")

    def test_failures_are_byte_identical(
        self,
        client: TestClient,  # type: ignore[type-arg]
        memory_services: Services,
        ann: str,
    ) -> None:
        """Wrong password, unknown e-mail and a Google account get the same 401 bytes.

        The client sends one request id for all three: the body echoes it (requestId),
        and nothing else may tell the cases apart.
        """
        memory_services.accounts.register("google@example.com", None, "G")
        same_id = {"X-Request-Id": "login-probe"}
        responses = [
            client.post(LOGIN, **form(email=ann, password="wrong password!"), headers=same_id),
            client.post(
                LOGIN, **form(email="nobody@example.com", password=SECRET), headers=same_id
            ),
            client.post(
                LOGIN, **form(email="google@example.com", password=SECRET), headers=same_id
            ),
        ]
        for response in responses:
            assert_problem(response, 401)
            assert "Bearer" == response.headers["www-authenticate"]
        assert 1 == len({r.content for r in responses})
        assert 1 == len({r.headers["content-type"] for r in responses})

    def test_unknown_email_still_hashes(self, clock: ManualClock) -> None:
        """Timing parity: a login for an unknown e-mail runs the password hasher."""
        hasher = CountingHasher()
        services = in_memory_services(clock=clock, hasher=hasher)
        for client in app_client(services):
            response = client.post(LOGIN, **form(email="nobody@example.com", password=SECRET))
            assert 401 == response.status_code
        assert 1 == hasher.verifies

    @pytest.mark.parametrize(
        ("fields", "missing"),
        [({"email": "ann@example.com"}, "password"), ({"password": SECRET}, "email")],
    )
    def test_missing_field_is_named(
        self,
        client: TestClient,  # type: ignore[type-arg]
        fields: dict[str, str],
        missing: str,
    ) -> None:
        """A missing form field gives 422 naming that field."""
        body = assert_problem(client.post(LOGIN, **form(**fields)), 422)
        assert missing in body["detail"]
        assert [missing] == [e["field"] for e in body["errors"]]

    @pytest.mark.parametrize(
        ("request_kwargs", "status"),
        [
            ({}, 422),
            ({"json": {"email": "ann@example.com", "password": SECRET}}, 415),
            (
                {
                    "content": b"\x00\xff garbage",
                    "headers": {"content-type": "multipart/form-data"},
                },
                400,
            ),
            (
                {
                    "content": b"--zz\r\nbroken",
                    "headers": {"content-type": "multipart/form-data; boundary=zz"},
                },
                400,
            ),
        ],
        ids=["empty", "json", "no-boundary", "broken-multipart"],
    )
    def test_malformed_body_is_a_4xx_problem(
        self,
        client: TestClient,  # type: ignore[type-arg]
        request_kwargs: dict[str, Any],
        status: int,
    ) -> None:
        """No body is missing fields (422), JSON 415, broken multipart 400: never a 500."""
        assert_problem(client.post(LOGIN, **request_kwargs), status)

    def test_throttled_per_email(self, client: TestClient, ann: str) -> None:  # type: ignore[type-arg]
        """After 5 failures for one e-mail, even the right password gets 429 with Retry-After."""
        for _ in range(5):
            assert (
                401 == client.post(LOGIN, **form(email=ann, password="wrong password!")).status_code
            )
        response = client.post(LOGIN, **form(email=ann, password=SECRET))
        body = assert_problem(response, 429)
        retry_after = int(response.headers["retry-after"])
        assert 0 < retry_after <= 15 * 60
        assert str(retry_after) in body["detail"]

    def test_throttled_per_client(self, clock: ManualClock) -> None:
        """One client failing on many e-mails is stopped by the per-client budget."""
        services = in_memory_services(
            Settings(login_failures_per_email=100, login_failures_per_client=3), clock=clock
        )
        for client in app_client(services):
            for n in range(3):
                response = client.post(LOGIN, **form(email=f"u{n}@example.com", password=SECRET))
                assert 401 == response.status_code
            response = client.post(LOGIN, **form(email="fresh@example.com", password=SECRET))
            assert_problem(response, 429)
            assert int(response.headers["retry-after"]) > 0
            clock.advance(timedelta(minutes=15))
            response = client.post(LOGIN, **form(email="fresh@example.com", password=SECRET))
            assert 401 == response.status_code


class TestRegister:
    def test_created(self, client: TestClient) -> None:  # type: ignore[type-arg]
        """201 with the new free account, whose credentials then log in."""
        response = client.post(
            REGISTER, **form(email="New@Example.com", password=SECRET, name="New")
        )
        assert 201 == response.status_code
        body = response.json()
        assert ("new@example.com", "New", "free") == (body["email"], body["name"], body["plan"])
        assert ["ROLE_USER", "PLAN_FREE"] == body["authorities"]
        assert "password" not in json.dumps(body).lower()
        login = client.post(LOGIN, **form(email="new@example.com", password=SECRET))
        assert 200 == login.status_code

    @pytest.mark.parametrize(
        ("password", "reason"),
        [("short", "at least 10"), ("password123", "common"), ("xx new-user xx", "e-mail or name")],
    )
    def test_weak_password_is_422_with_reason(
        self,
        client: TestClient,  # type: ignore[type-arg]
        password: str,
        reason: str,
    ) -> None:
        """A refused password gives 422 whose detail says why."""
        response = client.post(
            REGISTER, **form(email="new-user@example.com", password=password, name="N")
        )
        body = assert_problem(response, 422)
        assert reason in body["detail"]
        assert body["type"].endswith("/weak-password")

    def test_taken_email_is_409(self, client: TestClient, ann: str) -> None:  # type: ignore[type-arg]
        """Registering an existing e-mail in another case is a 409 problem."""
        response = client.post(REGISTER, **form(email="ANN@example.com", password=SECRET, name="A"))
        assert_problem(response, 409)

    def test_invalid_email_names_the_field(self, client: TestClient) -> None:  # type: ignore[type-arg]
        """A malformed e-mail is refused naming the email field."""
        response = client.post(REGISTER, **form(email="not-an-email", password=SECRET, name="A"))
        body = assert_problem(response, 422)
        assert ["email"] == [e["field"] for e in body["errors"]]


class TestMe:
    def test_with_token(self, client: TestClient, token: str) -> None:  # type: ignore[type-arg]
        """A valid bearer token returns the caller's account."""
        response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert 200 == response.status_code
        assert ("ann@example.com", "pro") == (response.json()["email"], response.json()["plan"])

    @pytest.mark.parametrize(
        "authorization",
        [
            None,
            "",
            "Bearer",
            "Bearer ",
            "Basic YW5uOnB3",
            "Token abc",
            "Bearer not.a.jwt",
            "Bearer x",
        ],
    )
    def test_missing_or_malformed_header(
        self,
        client: TestClient,  # type: ignore[type-arg]
        authorization: str | None,
    ) -> None:
        """No usable bearer token is a 401 problem with a Bearer challenge."""
        headers = {} if authorization is None else {"Authorization": authorization}
        response = client.get(ME, headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_bad_tokens(
        self,
        client: TestClient,  # type: ignore[type-arg]
        memory_services: Services,
        clock: ManualClock,
        token: str,
    ) -> None:
        """Tampered, alg=none, foreign-key and expired tokens all get 401 + Bearer."""
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["authorities"] = ["ROLE_ADMIN", "ROLE_USER", "PLAN_ENTERPRISE"]
        tampered = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
        none_header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        alg_none = f"{none_header}.{payload}."
        user = memory_services.accounts.users.get_by_email("ann@example.com")
        assert user is not None
        foreign = JwtTokens.generate().issue(user, clock.now()).token
        for bad in (tampered, alg_none, foreign, token[:-4] + "AAAA"):
            response = client.get(ME, headers={"Authorization": f"Bearer {bad}"})
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
        clock.advance(timedelta(hours=72))
        response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


class TestMetaRoutes:
    def test_health(self, client: TestClient) -> None:  # type: ignore[type-arg]
        """GET /health answers 200 ok."""
        response = client.get("/health")
        assert (200, {"status": "ok"}) == (response.status_code, response.json())

    def test_index_links(self, client: TestClient) -> None:  # type: ignore[type-arg]
        """GET / names the service and links the login and the key set."""
        body = client.get("/").json()
        assert "cropedly" == body["name"]
        assert body["links"]["login"].endswith("/auth/v1/login")
        assert body["links"]["jwks"].endswith("/.well-known/jwks.json")

    def test_jwks_is_public_only(self, client: TestClient, token: str) -> None:  # type: ignore[type-arg]
        """The key set holds the signing key's public half, under the token's kid."""
        keys = client.get("/.well-known/jwks.json").json()["keys"]
        kid = json.loads(base64.urlsafe_b64decode(token.split(".", maxsplit=1)[0] + "==="))["kid"]
        assert [kid] == [k["kid"] for k in keys]
        for key in keys:
            assert "d" not in key
            assert ("OKP", "Ed25519") == (key["kty"], key["crv"])

    def test_openapi_lists_every_route(self, client: TestClient) -> None:  # type: ignore[type-arg]
        """Every route of the app, except the pages for people (schema, console), is in the OpenAPI document."""
        paths = client.get("/schema/openapi.json").json()["paths"]
        routes = {
            re.sub(r":[^}]+}", "}", route.path)
            for route in client.app.routes
            if not route.path.startswith(("/schema", "/console"))
        }
        assert {"/", "/health", "/.well-known/jwks.json", LOGIN, REGISTER, ME} <= routes
        assert set() == routes - set(paths)

    def test_unknown_route_is_a_problem(self, client: TestClient) -> None:  # type: ignore[type-arg]
        """404 and 405 are problem documents too."""
        assert_problem(client.get("/no/such/route"), 404)
        assert_problem(client.get(LOGIN), 405)


class TestBodyLimit:
    @pytest.fixture
    def small_client(self, clock: ManualClock) -> Iterator[TestClient]:  # type: ignore[type-arg]
        services = in_memory_services(Settings(max_request_bytes=2_000), clock=clock)
        services.accounts.register("ann@example.com", SECRET, "Ann")
        yield from app_client(services)

    def test_oversized_body_is_413(self, small_client: TestClient) -> None:  # type: ignore[type-arg]
        """A body over max_request_bytes gets a 413 problem."""
        response = small_client.post(LOGIN, **form(email="ann@example.com", password="x" * 5_000))
        assert_problem(response, 413)

    @pytest.mark.parametrize(("size", "status"), [(0, 401), (100, 401), (1_500, 422)])
    def test_normal_bodies_never_500(
        self, small_client: TestClient, size: int, status: int
    ) -> None:  # type: ignore[type-arg]
        """Bodies under the limit are answered by the route (a password over 256 is invalid)."""
        response = small_client.post(LOGIN, **form(email="ann@example.com", password="y" * size))
        body = assert_problem(response, status)
        if status == 422:
            assert [{"field": "password", "detail": "Expected `str` of length <= 256"}] == body[
                "errors"
            ]
