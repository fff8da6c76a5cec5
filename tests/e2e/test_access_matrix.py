"""Plan x origin x route, preflights, the 429 path and the usage figures, over HTTP.

One app on in-memory adapters; each account registers its own origin. Origins:
registered (by the token's account), unregistered, ``null``, absent (a server-side
call) and the server's own (the console, treated as first-party).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, TypeAlias

import pytest
from litestar.testing import TestClient

from cropedly.bootstrap import Services
from cropedly.http.app import create_app
from cropedly.http.problems import PROBLEM_BASE
from cropedly.settings import Settings
from cropedly_adapters.memory import ManualClock
from cropedly_core.users import Plan
from doubles import in_memory_services
from imaging import PASSWORD, bearer, png_bytes

Client: TypeAlias = "TestClient[Any]"

OWN = "http://127.0.0.1:8000"  # Settings' default base URL: the console's origin
CATALOG = "/images/v1/enterprise-resources/images"
DOMAINS, USAGE = "/account/v1/domains", "/account/v1/usage"
PLANS = (Plan.FREE, Plan.PRO, Plan.ENTERPRISE)
ORIGINS = ("registered", "unregistered", "null", "absent", "own")
ROUTES = ("enhance", "catalog", "domains", "usage", "me", "keys")
PER_MINUTE = 1000
IMAGES = 3


def registered_origin(plan: Plan) -> str:
    return f"https://{plan.value}.customer.example"


def origin_header(plan: Plan, origin: str) -> dict[str, str]:
    value = {
        "registered": registered_origin(plan),
        "unregistered": "https://stranger.example",
        "null": "null",
        "own": OWN,
    }.get(origin)
    return {} if value is None else {"Origin": value}


def expected(plan: Plan, origin: str, route: str) -> tuple[int, str | None]:
    """The status and problem slug the access rules give."""
    browser = origin in {"registered", "unregistered", "null"}
    if browser and plan is not Plan.ENTERPRISE:
        return 403, "enterprise-plan-required"
    if browser and origin != "registered":
        return 403, "origin-not-registered"
    if route == "enhance" and plan is Plan.FREE:
        return 403, "pro-plan-required"
    if route in {"catalog", "domains"} and plan is not Plan.ENTERPRISE:
        return 403, "enterprise-plan-required"
    return 200, None


class World:
    def __init__(self, **settings: Any) -> None:
        self.clock = ManualClock()
        base = {"upscaler": "lanczos", "pro_requests_per_minute": PER_MINUTE}
        base |= {"free_requests_per_minute": PER_MINUTE}
        base |= {"enterprise_requests_per_minute": PER_MINUTE} | settings
        self.services: Services = in_memory_services(Settings(**base), clock=self.clock)
        self.auth = {
            plan: bearer(self.services, f"{plan.value}@example.com", plan) for plan in PLANS
        }
        for plan in PLANS:
            # Registered directly: the domains API itself is Enterprise only.
            self.services.accounts.set_origins(
                f"{plan.value}@example.com", frozenset({registered_origin(plan)})
            )
        self.client: Client = TestClient(app=create_app(self.services))

    def call(self, route: str, headers: dict[str, str]) -> Any:
        if route == "enhance":
            files = [("images", ("a.png", png_bytes()))]
            return self.client.post("/images/v1", files=files, headers=headers)
        path = {
            "catalog": CATALOG,
            "domains": DOMAINS,
            "usage": USAGE,
            "me": "/auth/v1/me",
            "keys": "/auth/v1/keys",
        }[route]
        return self.client.get(path, headers=headers)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    built = World()
    with built.client:
        yield built


@pytest.fixture
def fresh() -> Iterator[World]:
    built = World(pro_requests_per_minute=3, pro_images_per_month=IMAGES)
    with built.client:
        yield built


MATRIX = [(p, o, r) for p in PLANS for o in ORIGINS for r in ROUTES]


@pytest.mark.parametrize(
    ("plan", "origin", "route"), MATRIX, ids=[f"{p}-{o}-{r}" for p, o, r in MATRIX]
)
def test_plan_origin_route(world: World, plan: Plan, origin: str, route: str) -> None:
    """Each plan, origin and route gets the status and problem type of the access rules."""
    status, slug = expected(plan, origin, route)
    response = world.call(route, {**world.auth[plan], **origin_header(plan, origin)})
    assert status == response.status_code, response.text[:300]
    if slug is not None:
        assert PROBLEM_BASE + slug == response.json()["type"]
    cors = response.headers.get("access-control-allow-origin")
    if origin == "registered" and plan is Plan.ENTERPRISE:
        assert registered_origin(plan) == cors
        assert "RateLimit" in response.headers["access-control-expose-headers"]
    else:
        assert cors is None
    if origin not in {"absent", "own"}:
        assert "Origin" in response.headers.get("vary", "")


class TestCors:
    def test_never_a_wildcard(self, world: World) -> None:
        """No answer ever allows every origin."""
        for origin in (registered_origin(Plan.ENTERPRISE), "https://x.example", "null"):
            response = world.client.get("/health", headers={"Origin": origin})
            assert "*" != response.headers.get("access-control-allow-origin")

    @pytest.mark.parametrize("plan", PLANS)
    def test_preflight_succeeds_only_for_origins_of_enterprise_accounts(
        self, world: World, plan: Plan
    ) -> None:
        """A Pro or Free account's registered origin gets no CORS grant: browsers need Enterprise."""
        origin = registered_origin(plan)
        response = world.client.options(
            "/images/v1",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        if plan is Plan.ENTERPRISE:
            assert 204 == response.status_code
            assert origin == response.headers["access-control-allow-origin"]
            allowed = response.headers["access-control-allow-headers"]
            assert {"authorization", "content-type"} <= {
                h.strip().lower() for h in allowed.split(",")
            }
        else:
            assert 403 == response.status_code
            assert not [h for h in response.headers if h.startswith("access-control-")]

    @pytest.mark.parametrize("origin", ["null", "https://stranger.example", "https://*.example"])
    def test_preflight_of_unregistered_origins_has_no_cors_headers(
        self, world: World, origin: str
    ) -> None:
        response = world.client.options(
            DOMAINS, headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
        )
        assert 403 == response.status_code
        assert not [h for h in response.headers if h.startswith("access-control-")]

    def test_origins_are_matched_after_normalising(self, world: World) -> None:
        """Upper case and the default port name the same origin as the registered one."""
        origin = "HTTPS://ENTERPRISE.customer.example:443"
        response = world.call("usage", {**world.auth[Plan.ENTERPRISE], "Origin": origin})
        assert 200 == response.status_code


class TestRateLimit:
    def test_every_authenticated_answer_carries_the_headers(self, fresh: World) -> None:
        """IETF RateLimit-Policy and RateLimit: quota, window, remaining, reset."""
        response = fresh.client.get("/auth/v1/me", headers=fresh.auth[Plan.PRO])
        assert 200 == response.status_code
        assert '"minute";q=3;w=60' == response.headers["ratelimit-policy"]
        assert response.headers["ratelimit"].startswith('"minute";r=2;t=')

    def test_error_answers_after_authentication_carry_them_too(self, fresh: World) -> None:
        response = fresh.client.get(CATALOG, headers=fresh.auth[Plan.PRO])
        assert 403 == response.status_code
        assert "ratelimit" in response.headers

    def test_past_the_limit_429_with_retry_after(self, fresh: World) -> None:
        """The fourth request in a minute is refused until the window turns."""
        for _ in range(3):
            assert 200 == fresh.client.get(USAGE, headers=fresh.auth[Plan.PRO]).status_code
        refused = fresh.client.get(USAGE, headers=fresh.auth[Plan.PRO])
        assert 429 == refused.status_code
        assert PROBLEM_BASE + "rate-limited" == refused.json()["type"]
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 60
        assert refused.headers["ratelimit"] == f'"minute";r=0;t={wait}'
        fresh.clock.advance(timedelta(seconds=wait))
        assert 200 == fresh.client.get(USAGE, headers=fresh.auth[Plan.PRO]).status_code

    def test_accounts_are_limited_apart(self, fresh: World) -> None:
        for _ in range(4):
            fresh.client.get(USAGE, headers=fresh.auth[Plan.PRO])
        assert 200 == fresh.client.get(USAGE, headers=fresh.auth[Plan.FREE]).status_code

    def test_unauthenticated_answers_carry_no_rate_headers(self, fresh: World) -> None:
        assert "ratelimit" not in fresh.client.get("/health").headers


class TestUsage:
    def test_images_processed_against_the_monthly_quota(self, fresh: World) -> None:
        """Processed images count; refused files do not; past the quota 429 until next month."""
        files = [("images", (f"{n}.png", png_bytes())) for n in range(2)]
        pro = fresh.auth[Plan.PRO]
        assert 200 == fresh.client.post("/images/v1", files=files, headers=pro).status_code
        bad = [("images", ("bad.png", b""))]
        assert 422 == fresh.client.post("/images/v1", files=bad, headers=pro).status_code
        fresh.clock.advance(timedelta(minutes=1))
        usage = fresh.client.get(USAGE, headers=pro).json()
        assert (2, IMAGES) == (usage["imagesProcessed"], usage["imagesLimit"])
        refused = fresh.client.post("/images/v1", files=files, headers=pro)
        assert 429 == refused.status_code
        assert PROBLEM_BASE + "monthly-images-exceeded" == refused.json()["type"]
        assert int(refused.headers["retry-after"]) > 0
        fresh.clock.advance(timedelta(days=32))  # the next month; tokens live 72 hours
        token = fresh.services.accounts.login("pro@example.com", PASSWORD).token
        usage = fresh.client.get(USAGE, headers={"Authorization": f"Bearer {token}"}).json()
        assert 0 == usage["imagesProcessed"]

    def test_bytes_stored_are_the_catalogs(self, world: World) -> None:
        ent = world.auth[Plan.ENTERPRISE]
        data = png_bytes(16, 12)
        files = [("images", ("r.png", data))]
        assert 204 == world.client.post(f"{CATALOG}/upload", files=files, headers=ent).status_code
        listed = world.client.get(CATALOG, headers=ent).json()
        usage = world.client.get(USAGE, headers=ent).json()
        assert sum(i["size"] for i in listed) == usage["bytesStored"]
        assert len(listed) == usage["catalogImages"]
        assert world.services.settings.catalog_max_bytes == usage["bytesLimit"]
        assert "enterprise" == usage["plan"]
        assert usage["periodStart"].endswith("T00:00:00Z")


class TestPlanChanges:
    def test_a_plan_change_applies_to_the_next_request(self, fresh: World) -> None:
        """The stored plan is checked on each request: the same token gains and loses access."""
        headers = {**fresh.auth[Plan.PRO], "Origin": registered_origin(Plan.PRO)}
        assert 403 == fresh.client.get(USAGE, headers=headers).status_code
        fresh.services.accounts.set_plan("pro@example.com", Plan.ENTERPRISE)
        allowed = fresh.client.get(USAGE, headers=headers)
        assert 200 == allowed.status_code
        assert registered_origin(Plan.PRO) == allowed.headers["access-control-allow-origin"]
        fresh.services.accounts.set_plan("pro@example.com", Plan.PRO)
        assert 403 == fresh.client.get(USAGE, headers=headers).status_code
