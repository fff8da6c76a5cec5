"""The served OpenAPI document is complete and honest; the docs page at /schema works offline.

Three kinds of check: rules every operation must follow (auth -> 401, body -> 400/413, ...),
probes that provoke each error over HTTP and require its status to be documented (and every
documented error to be provoked), and headless Chromium rendering /schema of a real server
that cannot resolve any host name.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import httpx
import pytest
from litestar.testing import TestClient
from PIL import Image

from browsers import FLAGS, require_chromium
from cropedly.bootstrap import Services
from cropedly.http.app import create_app
from cropedly.http.openapi import OPERATIONS, STATIC_DIR
from cropedly.http.problems import PROBLEM_BASE
from cropedly.settings import Settings
from cropedly_adapters.memory import (
    FastPasswordHasher,
    InMemoryApiKeyRepository,
    InMemoryBlobStore,
    InMemoryMailer,
    InMemoryUserRepository,
    ManualClock,
)
from cropedly_core.api_keys import ApiKey
from cropedly_core.errors import StorageFull
from cropedly_core.users import Plan, User
from doubles import in_memory_services
from imaging import PASSWORD, bearer, png_bytes
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider
from servers import running_server, server_env

Client: TypeAlias = "TestClient[Any]"
Document: TypeAlias = dict[str, Any]

PROBLEM_MEDIA = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
CATALOG = "/images/v1/enterprise-resources/images"
# The ids the API's clients generate code from; renaming one is a breaking change.
READABLE_IDS = {
    "getServiceInfo",
    "getHealth",
    "getLiveness",
    "getReadiness",
    "getMetrics",
    "getJwks",
    "login",
    "register",
    "getMe",
    "forgotPassword",
    "resetPassword",
    "changePassword",
    "createApiKey",
    "listApiKeys",
    "revokeApiKey",
    "exchangeApiKey",
    "googleLogin",
    "googleCallback",
    "enhanceImages",
    "downloadResult",
    "getJob",
    "uploadReferenceImages",
    "listReferenceImages",
    "getReferenceImage",
    "deleteReferenceImages",
    "downloadReferenceImage",
    "listDomains",
    "addDomain",
    "removeDomain",
    "getUsage",
}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/avif"}
MAX_REQUEST = 60_000
MAX_FILE = 20_000
LOGIN_FAILURES = 2
SIGN_UPS = 3
FREE_PER_MINUTE = 25  # above the 21 key creations of the createApiKey-409 probe
PRO_IMAGES = 3
DOMAINS_PER_ACCOUNT = 3


def operations(document: Document) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def by_id(document: Document) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for _, _, op in operations(document)}


def served_document(services: Services | None = None) -> Document:
    with TestClient(app=create_app(services or in_memory_services())) as client:
        response = client.get("/schema/openapi.json")
        assert 200 == response.status_code
        document: Document = response.json()
        return document


@pytest.fixture(scope="module")
def document() -> Document:
    """The document ``GET /schema/openapi.json`` serves."""
    return served_document()


def errors_of(operation: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {int(s): r for s, r in operation["responses"].items() if int(s) >= 400}


# ------------------------------------------------------------------- structure


class TestOperationIds:
    def test_every_operation_has_a_readable_unique_id(self, document: Document) -> None:
        ids = [op.get("operationId") for _, _, op in operations(document)]
        assert None not in ids
        assert len(ids) == len(set(ids)), "duplicate operationIds"
        for operation_id in ids:
            assert re.fullmatch(r"[a-z][a-zA-Z]+", operation_id), operation_id
        assert READABLE_IDS == set(ids)

    def test_every_operation_is_in_the_table(self, document: Document) -> None:
        """A new route must be added to ``OPERATIONS`` in http/openapi.py with its statuses."""
        routes = {(method, path): op["operationId"] for method, path, op in operations(document)}
        table = {(d.method, d.path): operation_id for operation_id, d in OPERATIONS.items()}
        assert table == routes


class TestNames:
    def test_every_app_serves_the_same_document(self, document: Document) -> None:
        """Litestar names DTO models differently once a name was taken; ours do not depend on it."""
        assert document == served_document() == served_document()

    def test_components_are_named_after_the_models(self, document: Document) -> None:
        for name in document["components"]["schemas"]:
            assert re.fullmatch(r"[A-Z][A-Za-z]+", name), name
            assert not name.endswith(("ResponseBody", "RequestBody")), name

    def test_every_media_type_is_named(self, document: Document) -> None:
        for method, path, operation in operations(document):
            bodies = [operation.get("requestBody", {}), *operation["responses"].values()]
            for body in bodies:
                for media_type in body.get("content", {}):
                    assert re.fullmatch(r"[a-z]+/[a-z0-9.+-]+", media_type), f"{method} {path}"


class TestErrorResponses:
    def test_every_error_is_a_problem(self, document: Document) -> None:
        """Each 4xx/5xx response is application/problem+json with the one Problem schema."""
        for method, path, operation in operations(document):
            for status, response in errors_of(operation).items():
                where = f"{method} {path} {status}"
                assert {PROBLEM_MEDIA} == set(response.get("content", {})), where
                schema = response["content"][PROBLEM_MEDIA]["schema"]
                assert {"$ref": PROBLEM_REF} == schema, where
                assert response["description"].strip(), where

    def test_no_litestar_default_error_shape(self, document: Document) -> None:
        """Litestar's ``{status_code, detail, extra}`` is never documented: the server never sends it."""

        def walk(node: Any, where: str) -> None:
            if isinstance(node, dict):
                properties = node.get("properties")
                if isinstance(properties, dict):
                    assert not {"status_code", "extra"} & set(properties), where
                assert node.get("description") != "Validation Exception", where
                for key, value in node.items():
                    walk(value, f"{where}/{key}")
            elif isinstance(node, list):
                for index, value in enumerate(node):
                    walk(value, f"{where}[{index}]")

        walk(document, "#")
        assert "ValidationException" not in str(document)

    def test_every_operation_can_fail_with_500(self, document: Document) -> None:
        for method, path, operation in operations(document):
            assert 500 in errors_of(operation), f"{method} {path}"

    def test_authenticated_operations_have_401(self, document: Document) -> None:
        for method, path, operation in operations(document):
            if operation.get("security"):
                response = errors_of(operation).get(401)
                assert response is not None, f"{method} {path}"
                assert "WWW-Authenticate" in response["headers"], f"{method} {path}"

    def test_plan_restricted_operations_have_403(self, document: Document) -> None:
        for method, path, operation in operations(document):
            if operation.get("security") and path.startswith("/images/"):
                assert 403 in errors_of(operation), f"{method} {path}"

    def test_operations_with_a_body_have_400_413_415_422(self, document: Document) -> None:
        """Any body may be malformed (400), too large (413), not a form (415) or lack a field (422)."""
        for method, path, operation in operations(document):
            if "requestBody" in operation:
                assert {400, 413, 415, 422} <= set(errors_of(operation)), f"{method} {path}"

    def test_uploads_have_every_image_refusal(self, document: Document) -> None:
        """Operations taking image files refuse them with 413, 415, 422 and may be busy (503)."""
        uploads = 0
        for method, path, operation in operations(document):
            form = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            properties = (form or {}).get("schema", {}).get("properties", {})
            if properties.get("images", {}).get("items", {}).get("format") == "binary":
                uploads += 1
                assert {400, 413, 415, 422, 503, 507} <= set(errors_of(operation)), (
                    f"{method} {path}"
                )
        assert 2 == uploads

    def test_parameters_that_can_be_wrong(self, document: Document) -> None:
        """A path id can name nothing (404); a required or bounded query parameter can be wrong (422)."""
        for method, path, operation in operations(document):
            for parameter in operation.get("parameters", []):
                where = f"{method} {path} {parameter['name']}"
                if parameter["in"] == "path":
                    assert 404 in errors_of(operation), where
                schema = parameter.get("schema", {})
                bounded = "minimum" in schema or "maximum" in schema
                if parameter["in"] == "query" and (parameter.get("required") or bounded):
                    assert 422 in errors_of(operation), where

    def test_throttled_and_busy_answers_say_when_to_retry(self, document: Document) -> None:
        for method, path, operation in operations(document):
            for status in {429, 503, 507} & set(errors_of(operation)):
                assert "Retry-After" in errors_of(operation)[status]["headers"], f"{method} {path}"


def test_docs_api_md_lists_the_served_statuses(document: Document) -> None:
    """The per-operation table of docs/api.md says what the document says (500 aside)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    rows = re.findall(
        r"^\| `(\w+)` \| `[A-Z]+ [^`]+` \|\s*([\d, ]+?)\s*\|\s*([\d, ]*?)\s*\|$",
        text,
        re.MULTILINE,
    )
    written = {op: (success.strip(), errors.strip()) for op, success, errors in rows}
    served = {}
    for _, _, operation in operations(document):
        statuses = sorted(int(status) for status in operation["responses"])
        served[operation["operationId"]] = (
            ", ".join(str(s) for s in statuses if s < 400),
            ", ".join(str(s) for s in statuses if s >= 400 and s != 500),
        )
    assert served == written


class TestProblemSchema:
    def test_rfc_9457_members_and_ours(self, document: Document) -> None:
        problem = document["components"]["schemas"]["Problem"]
        assert "object" == problem["type"]
        assert {"type", "title", "status", "detail"} == set(problem["required"])
        properties = problem["properties"]
        assert {
            "type",
            "title",
            "status",
            "detail",
            "instance",
            "errors",
            "requiredPlan",
            "requestId",
            "checks",
        } == set(properties)
        assert "integer" == properties["status"]["type"]
        item = properties["errors"]["items"]
        assert "array" == properties["errors"]["type"]
        assert {"field", "file", "type", "detail"} == set(item["properties"])
        assert "required" not in item
        assert {"pro", "enterprise"} == set(properties["requiredPlan"]["enum"])

    def test_only_one_problem_schema(self, document: Document) -> None:
        names = [n for n in document["components"]["schemas"] if "problem" in n.lower()]
        assert ["Problem"] == names


class TestDownloads:
    @pytest.mark.parametrize("operation_id", ["downloadResult", "downloadReferenceImage"])
    def test_binary_image_content_and_http_caching(
        self, document: Document, operation_id: str
    ) -> None:
        responses = by_id(document)[operation_id]["responses"]
        assert {"200", "206", "304", "403", "404", "416", "422", "500"} == set(responses)
        for status in ("200", "206"):
            content = responses[status]["content"]
            assert IMAGE_TYPES == set(content)
            for media in content.values():
                assert {"type": "string", "format": "binary"} == media["schema"]
            assert "ETag" in responses[status]["headers"]
        assert "Content-Range" in responses["206"]["headers"]
        assert "content" not in responses["304"]
        assert "Content-Range" in responses["416"]["headers"]
        assert "security" not in by_id(document)[operation_id]


# ------------------------------------------------------- probes: sent == documented


class FillableBlobs(InMemoryBlobStore):
    """Blobs whose disk can be made full."""

    full = False

    def put(self, key: str, data: bytes) -> None:
        if self.full:
            raise StorageFull
        super().put(key, data)


class FillableUsers(InMemoryUserRepository):
    """Users whose disk can be made full."""

    full = False

    def add(self, user: User) -> None:
        if self.full:
            raise StorageFull
        super().add(user)

    def update(self, user: User) -> None:
        if self.full:
            raise StorageFull
        super().update(user)


class FillableKeys(InMemoryApiKeyRepository):
    """API keys whose disk can be made full."""

    full = False

    def add(self, key: ApiKey) -> None:
        if self.full:
            raise StorageFull
        super().add(key)

    def delete(self, owner_id: str, key_id: str) -> bool:
        if self.full:
            raise StorageFull
        return super().delete(owner_id, key_id)

    def touch(self, key_id: str, when: datetime) -> None:
        if self.full:
            raise StorageFull
        super().touch(key_id, when)


class World:
    """An app with a Free, a Pro and an Enterprise account, small limits, a disk that can fill.

    Google sign-in goes to a loopback OpenID provider (``tests/oidc_provider.py``).
    """

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.outbox = InMemoryMailer()
        self.blobs = FillableBlobs()
        self.users = FillableUsers()
        self.keys = FillableKeys()
        self.hasher = FastPasswordHasher()
        self.services = in_memory_services(
            Settings(
                upscaler="lanczos",
                max_request_bytes=MAX_REQUEST,
                max_file_bytes=MAX_FILE,
                login_failures_per_email=LOGIN_FAILURES,
                registrations_per_client=SIGN_UPS,
                free_requests_per_minute=FREE_PER_MINUTE,
                pro_images_per_month=PRO_IMAGES,
                domains_per_account=DOMAINS_PER_ACCOUNT,
                google_issuer=provider.issuer,
                google_client_id=CLIENT_ID,
                google_client_secret=CLIENT_SECRET,
            ),
            clock=ManualClock(),
            mail=self.outbox,
            blobs=self.blobs,
            users=self.users,
            hasher=self.hasher,
            api_keys=self.keys,
        )
        self.free = bearer(self.services, "free@example.com", Plan.FREE)
        self.pro = bearer(self.services, "pro@example.com", Plan.PRO)
        self.ent = bearer(self.services, "ent@example.com", Plan.ENTERPRISE)
        self.client: Client = TestClient(app=create_app(self.services))

    def not_ready(self) -> Client:
        """A readiness check that fails, as the database's does when its file is gone."""

        def unreachable() -> None:
            raise OSError("unable to open database file")

        self.services.readiness.append(("database", unreachable))
        return self.client

    def disk_full(self) -> World:
        self.blobs.full = self.users.full = self.keys.full = True
        return self

    def google_callback(self) -> str:
        """The path and query the provider sends the browser back to, after approving."""
        login = self.client.get(GOOGLE_LOGIN, follow_redirects=False)
        assert 302 == login.status_code, login.text
        back = urlsplit(httpx.get(login.headers["location"]).headers["location"])
        return f"{back.path}?{back.query}"

    def google_callback_after(self, trouble: Callable[[World], World]) -> httpx.Response:
        """Sign in up to the provider's approval, then cause ``trouble``, then call back."""
        path = self.google_callback()
        return trouble(self).client.get(path, follow_redirects=False)

    def google_down(self) -> World:
        self.provider.down = True
        return self

    def without_google(self) -> Client:
        return TestClient(app=create_app(in_memory_services(Settings(upscaler="lanczos"))))

    def exchange_on_full_disk(self) -> httpx.Response:
        key = self.api_key()[1]
        return self.disk_full().post(TOKEN, files=form(apiKey=key))

    def api_key(self) -> tuple[str, str]:
        """A new key of the Free account: (id, key)."""
        created = self.post(KEYS, headers=self.free, files=form(name="probe"))
        assert 201 == created.status_code, created.text
        return created.json()["id"], created.json()["key"]

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, **kwargs)

    def enhance(self, auth: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**(auth or self.pro), **kwargs.pop("headers", {})}
        return self.client.post("/images/v1", headers=headers, **kwargs)

    def job_location(self) -> str:
        """The address of a job of the Pro account, accepted with ``Prefer: respond-async``."""
        accepted = self.enhance(files=PNG, headers={"Prefer": "respond-async"})
        assert 202 == accepted.status_code, accepted.text
        return str(accepted.headers["location"])

    def upload(self, auth: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**(auth or self.ent), **kwargs.pop("headers", {})}
        return self.client.post(f"{CATALOG}/upload", headers=headers, **kwargs)

    def result_url(self) -> str:
        response = self.enhance(files=images(("a.png", png_bytes())), data={"format": "png"})
        assert 200 == response.status_code, response.text
        return local(response.json()[0]["url"])

    def reference_url(self) -> str:
        assert 204 == self.upload(files=images(("r.png", png_bytes()))).status_code
        listed = self.client.get(CATALOG, headers=self.ent)
        assert 200 == listed.status_code, listed.text
        return local(listed.json()[0]["url"])

    def domain_id(self) -> str:
        """A domain the Enterprise account registered: its id."""
        added = self.post(DOMAINS, headers=self.ent, files=form(origin="https://a.example"))
        assert 201 == added.status_code, added.text
        return str(added.json()["id"])

    def many_domains(self) -> httpx.Response:
        for number in range(DOMAINS_PER_ACCOUNT + 1):
            added = self.post(DOMAINS, headers=self.ent, files=form(origin=f"https://{number}.ex"))
        return added

    def reference_id(self) -> str:
        return urlsplit(self.reference_url()).path.split("/")[-2]

    def signed(self, kind: str, path: str, resource_id: str) -> str:
        expires = self.services.clock.now() + timedelta(hours=1)
        stamp, signature = self.services.links.sign(kind, resource_id, expires)
        return f"{path}?expires={stamp}&sig={signature}"

    def reset_token(self) -> str:
        self.services.accounts.register("reset@example.com", PASSWORD, "Reset Me")
        forgot = self.post(FORGOT, files=form(email="reset@example.com"))
        assert 202 == forgot.status_code, forgot.text
        found = re.search(r"^    (\S+\.\d+\.\S+)$", self.outbox.outbox[-1].body, re.MULTILINE)
        assert found is not None
        return found.group(1)

    def reset_on_full_disk(self) -> httpx.Response:
        token = self.reset_token()
        self.disk_full()
        return self.post(RESET, files=form(token=token, password="a new long passphrase 7"))

    def rehash_on_login(self) -> World:
        self.hasher.version += 1  # the stored hashes are outdated: login rewrites them
        return self


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def form(**fields: str) -> dict[str, tuple[None, str]]:
    return {name: (None, value) for name, value in fields.items()}


def images(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("images", item) for item in items]


def repeat(times: int, call: Callable[[], httpx.Response]) -> httpx.Response:
    for _ in range(times - 1):
        call()
    return call()


LOGIN, REGISTER, FORGOT, RESET = (
    f"/auth/v1/{name}" for name in ("login", "register", "forgot-password", "reset-password")
)
RESULTS = "/images/v1/results"
BIG = "x" * (MAX_REQUEST + 1)
TOO_LARGE_FILE = b"\x89PNG" + b"\0" * MAX_FILE
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = images(("a.png", png_bytes()))
MIXED = images(("empty.png", b""), ("huge.png", TOO_LARGE_FILE))  # 422 + 413 -> 400
BROKEN = {
    "content": b"--zz\r\nbroken",
    "headers": {"content-type": "multipart/form-data; boundary=zz"},
}
JSON = {"json": {"email": "a@example.com", "password": PASSWORD}}
GOOD_LOGIN = form(email="pro@example.com", password=PASSWORD)
BAD_LOGIN = form(email="pro@example.com", password="wrong password 1")
NEW = form(email="new@example.com", password=PASSWORD, name="New")
CHANGE = "/auth/v1/password"
KEYS, TOKEN = "/auth/v1/keys", "/auth/v1/token"
GOOGLE_LOGIN, GOOGLE_CALLBACK = "/auth/v1/google/login", "/auth/v1/google/callback"
DOMAINS, USAGE = "/account/v1/domains", "/account/v1/usage"
FOREIGN = {"Origin": "https://not-registered.example"}
CHANGED = form(currentPassword=PASSWORD, newPassword="a fresh long passphrase 8")
WRONG_CURRENT = form(currentPassword="wrong password 1", newPassword="a fresh long passphrase 8")
Probe: TypeAlias = Callable[[World], httpx.Response]


def form_probes(
    operation_id: str,
    path: str,
    valid: dict[str, tuple[None, str]],
    *,
    signed_in: bool = False,
    enterprise: bool = False,
) -> list[tuple[str, int, Probe]]:
    """What any text form answers: malformed (400), too large (413), not multipart (415), incomplete (422)."""
    first = next(iter(valid))

    def post(w: World, **kwargs: Any) -> httpx.Response:
        auth = w.ent if enterprise else w.free if signed_in else {}
        headers = {**auth, **kwargs.pop("headers", {})}
        return w.post(path, headers=headers, **kwargs)

    return [
        (operation_id, 400, lambda w: post(w, **BROKEN)),
        (operation_id, 413, lambda w: post(w, files={**valid, first: (None, BIG)})),
        (operation_id, 415, lambda w: post(w, **JSON)),
        (
            operation_id,
            422,
            lambda w: post(w, files={first: valid[first]} if len(valid) > 1 else {}),
        ),
    ]


def upload_probes(
    operation_id: str, call: Callable[..., httpx.Response]
) -> list[tuple[str, int, Probe]]:
    """What any image upload answers to bad bodies and bad files."""
    return [
        (operation_id, 400, lambda w: call(w, files=MIXED)),
        (operation_id, 400, lambda w: call(w, **BROKEN)),
        (operation_id, 413, lambda w: call(w, files=images(("a.png", BIG.encode())))),
        (operation_id, 413, lambda w: call(w, files=images(("a.png", TOO_LARGE_FILE)))),
        (operation_id, 415, lambda w: call(w, files=images(("a.pdf", PDF)))),
        (operation_id, 415, lambda w: call(w, json={"images": []})),
        (operation_id, 422, lambda w: call(w, files=images(("a.png", b"")))),
        (
            operation_id,
            422,
            lambda w: call(w, files=images(("a.png", png_bytes(64, 48)[:60]))),
        ),
        (operation_id, 507, lambda w: call(w.disk_full(), files=PNG)),
    ]


def download_probes(
    operation_id: str, url: Callable[[World], str], kind: str, path: str
) -> list[tuple[str, int, Probe]]:
    """What a signed-link download answers."""
    return [
        (operation_id, 200, lambda w: w.client.get(url(w))),
        (operation_id, 206, lambda w: w.client.get(url(w), headers={"Range": "bytes=0-3"})),
        (operation_id, 206, lambda w: w.client.get(url(w), headers={"Range": "bytes=-4"})),
        (operation_id, 304, lambda w: w.client.get(url(w), headers={"If-None-Match": "*"})),
        (operation_id, 403, lambda w: w.client.get(f"{path}?expires=1&sig=x")),
        (operation_id, 404, lambda w: w.client.get(w.signed(kind, path, "abc"))),
        (operation_id, 416, lambda w: w.client.get(url(w), headers={"Range": "bytes=99999999-"})),
        (operation_id, 422, lambda w: w.client.get(f"{path}?sig=x")),
    ]


# (operation id, status the server answers, a request that gets it)
PROBES: list[tuple[str, int, Probe]] = [
    ("getServiceInfo", 200, lambda w: w.client.get("/")),
    ("getHealth", 200, lambda w: w.client.get("/health")),
    ("getLiveness", 200, lambda w: w.client.get("/health/live")),
    ("getReadiness", 200, lambda w: w.client.get("/health/ready")),
    ("getReadiness", 503, lambda w: w.not_ready().get("/health/ready")),
    ("getMetrics", 200, lambda w: w.client.get("/metrics")),
    ("getJwks", 200, lambda w: w.client.get("/.well-known/jwks.json")),
    ("login", 200, lambda w: w.post(LOGIN, files=GOOD_LOGIN)),
    *form_probes("login", LOGIN, GOOD_LOGIN),
    ("login", 401, lambda w: w.post(LOGIN, files=BAD_LOGIN)),
    ("login", 429, lambda w: repeat(LOGIN_FAILURES + 1, lambda: w.post(LOGIN, files=BAD_LOGIN))),
    ("login", 507, lambda w: w.rehash_on_login().disk_full().post(LOGIN, files=GOOD_LOGIN)),
    ("register", 201, lambda w: w.post(REGISTER, files=NEW)),
    *form_probes("register", REGISTER, NEW),
    (
        "register",
        409,
        lambda w: w.post(REGISTER, files={**NEW, "email": (None, "pro@example.com")}),
    ),
    ("register", 422, lambda w: w.post(REGISTER, files={**NEW, "password": (None, "short")})),
    ("register", 422, lambda w: w.post(REGISTER, files={**NEW, "email": (None, "not-an-email")})),
    ("register", 429, lambda w: repeat(SIGN_UPS + 1, lambda: w.post(REGISTER, files=NEW))),
    ("register", 507, lambda w: w.disk_full().post(REGISTER, files=NEW)),
    ("getMe", 200, lambda w: w.client.get("/auth/v1/me", headers=w.free)),
    ("getMe", 401, lambda w: w.client.get("/auth/v1/me")),
    (
        "getMe",
        401,
        lambda w: w.client.get("/auth/v1/me", headers={"Authorization": "Bearer x.y.z"}),
    ),
    ("forgotPassword", 202, lambda w: w.post(FORGOT, files=form(email="x@example.com"))),
    *form_probes("forgotPassword", FORGOT, form(email="x@example.com")),
    (
        "forgotPassword",
        429,
        lambda w: repeat(4, lambda: w.post(FORGOT, files=form(email="pro@example.com"))),
    ),
    (
        "resetPassword",
        204,
        lambda w: w.post(
            RESET, files=form(token=w.reset_token(), password="a new long passphrase 7")
        ),
    ),
    *form_probes("resetPassword", RESET, form(token="a.1.b", password=PASSWORD)),
    ("resetPassword", 403, lambda w: w.post(RESET, files=form(token="a.1.b", password=PASSWORD))),
    (
        "resetPassword",
        422,
        lambda w: w.post(RESET, files=form(token=w.reset_token(), password="short")),
    ),
    ("resetPassword", 507, lambda w: w.reset_on_full_disk()),
    ("changePassword", 200, lambda w: w.post(CHANGE, headers=w.free, files=CHANGED)),
    *form_probes("changePassword", CHANGE, CHANGED, signed_in=True),
    ("changePassword", 401, lambda w: w.post(CHANGE, files=CHANGED)),
    ("changePassword", 403, lambda w: w.post(CHANGE, headers=w.free, files=WRONG_CURRENT)),
    (
        "changePassword",
        422,
        lambda w: w.post(CHANGE, headers=w.free, files={**CHANGED, "newPassword": (None, "short")}),
    ),
    (
        "changePassword",
        429,
        lambda w: repeat(
            LOGIN_FAILURES + 1, lambda: w.post(CHANGE, headers=w.free, files=WRONG_CURRENT)
        ),
    ),
    ("changePassword", 507, lambda w: w.disk_full().post(CHANGE, headers=w.free, files=CHANGED)),
    ("createApiKey", 201, lambda w: w.post(KEYS, headers=w.free, files=form(name="ci"))),
    *form_probes("createApiKey", KEYS, form(name="ci"), signed_in=True),
    ("createApiKey", 401, lambda w: w.post(KEYS, files=form(name="ci"))),
    (
        "createApiKey",
        409,
        lambda w: repeat(21, lambda: w.post(KEYS, headers=w.free, files=form(name="ci"))),
    ),
    (
        "createApiKey",
        422,
        lambda w: w.post(KEYS, headers=w.free, files=form(name="bad\x00name")),
    ),
    (
        "createApiKey",
        507,
        lambda w: w.disk_full().post(KEYS, headers=w.free, files=form(name="ci")),
    ),
    ("listApiKeys", 200, lambda w: w.client.get(KEYS, headers=w.free)),
    ("listApiKeys", 401, lambda w: w.client.get(KEYS)),
    (
        "revokeApiKey",
        204,
        lambda w: w.client.delete(f"{KEYS}/{w.api_key()[0]}", headers=w.free),
    ),
    ("revokeApiKey", 401, lambda w: w.client.delete(f"{KEYS}/abc")),
    ("revokeApiKey", 404, lambda w: w.client.delete(f"{KEYS}/abc", headers=w.free)),
    ("revokeApiKey", 422, lambda w: w.client.delete(f"{KEYS}/{'a' * 65}", headers=w.free)),
    (
        "revokeApiKey",
        507,
        lambda w: w.client.delete(f"{KEYS}/{w.api_key()[0]}", headers=w.disk_full().free),
    ),
    ("exchangeApiKey", 200, lambda w: w.post(TOKEN, files=form(apiKey=w.api_key()[1]))),
    *form_probes("exchangeApiKey", TOKEN, form(apiKey="cpk_x")),
    ("exchangeApiKey", 401, lambda w: w.post(TOKEN, files=form(apiKey="cpk_unknown"))),
    (
        "exchangeApiKey",
        507,
        lambda w: w.exchange_on_full_disk(),
    ),
    ("googleLogin", 302, lambda w: w.client.get(GOOGLE_LOGIN, follow_redirects=False)),
    ("googleLogin", 404, lambda w: w.without_google().get(GOOGLE_LOGIN)),
    ("googleLogin", 503, lambda w: w.google_down().client.get(GOOGLE_LOGIN)),
    ("googleCallback", 303, lambda w: w.client.get(w.google_callback(), follow_redirects=False)),
    ("googleCallback", 401, lambda w: w.client.get(f"{GOOGLE_CALLBACK}?code=a&state=b")),
    ("googleCallback", 404, lambda w: w.without_google().get(f"{GOOGLE_CALLBACK}?code=a")),
    ("googleCallback", 422, lambda w: w.client.get(f"{GOOGLE_CALLBACK}?code={'x' * 5000}")),
    (
        "googleCallback",
        503,
        lambda w: w.google_callback_after(World.google_down),
    ),
    (
        "googleCallback",
        507,
        lambda w: w.google_callback_after(World.disk_full),
    ),
    ("enhanceImages", 200, lambda w: w.enhance(files=PNG)),
    ("enhanceImages", 202, lambda w: w.enhance(files=PNG, headers={"Prefer": "respond-async"})),
    (
        "enhanceImages",
        422,
        lambda w: w.enhance(
            files=PNG,
            data={"callbackUrl": "http://127.0.0.1:9/hook"},
            headers={"Prefer": "respond-async"},
        ),
    ),
    ("getJob", 200, lambda w: w.client.get(w.job_location(), headers=w.pro)),
    ("getJob", 401, lambda w: w.client.get("/images/v1/jobs/abc")),
    ("getJob", 403, lambda w: w.client.get("/images/v1/jobs/abc", headers={**w.pro, **FOREIGN})),
    ("getJob", 404, lambda w: w.client.get("/images/v1/jobs/abc", headers=w.pro)),
    ("getJob", 404, lambda w: w.client.get(w.job_location(), headers=w.ent)),
    *upload_probes("enhanceImages", lambda w, **kw: w.enhance(**kw)),
    ("enhanceImages", 401, lambda w: w.client.post("/images/v1", files=PNG)),
    ("enhanceImages", 403, lambda w: w.enhance(w.free, files=PNG)),
    (
        "enhanceImages",
        403,
        lambda w: w.enhance({**w.pro, "Origin": "https://app.example.com"}, files=PNG),
    ),
    ("enhanceImages", 404, lambda w: w.enhance(w.ent, files=PNG, data={"referenceId": "nope"})),
    ("enhanceImages", 422, lambda w: w.enhance(files=PNG, data={"upscale": "3"})),
    *download_probes("downloadResult", World.result_url, "result", f"{RESULTS}/abc"),
    ("uploadReferenceImages", 204, lambda w: w.upload(files=PNG)),
    *upload_probes("uploadReferenceImages", lambda w, **kw: w.upload(**kw)),
    ("uploadReferenceImages", 401, lambda w: w.client.post(f"{CATALOG}/upload", files=PNG)),
    ("uploadReferenceImages", 403, lambda w: w.upload(w.pro, files=PNG)),
    ("listReferenceImages", 200, lambda w: w.client.get(CATALOG, headers=w.ent)),
    ("listReferenceImages", 401, lambda w: w.client.get(CATALOG)),
    ("listReferenceImages", 403, lambda w: w.client.get(CATALOG, headers=w.pro)),
    (
        "listReferenceImages",
        422,
        lambda w: w.client.get(CATALOG, params={"limit": 0}, headers=w.ent),
    ),
    (
        "listReferenceImages",
        422,
        lambda w: w.client.get(CATALOG, params={"cursor": "zz"}, headers=w.ent),
    ),
    (
        "getReferenceImage",
        200,
        lambda w: w.client.get(f"{CATALOG}/{w.reference_id()}", headers=w.ent),
    ),
    ("getReferenceImage", 401, lambda w: w.client.get(f"{CATALOG}/abc")),
    ("getReferenceImage", 403, lambda w: w.client.get(f"{CATALOG}/abc", headers=w.free)),
    ("getReferenceImage", 404, lambda w: w.client.get(f"{CATALOG}/abc", headers=w.ent)),
    ("deleteReferenceImages", 204, lambda w: w.client.delete(f"{CATALOG}?ids=a", headers=w.ent)),
    ("deleteReferenceImages", 401, lambda w: w.client.delete(f"{CATALOG}?ids=a")),
    ("deleteReferenceImages", 403, lambda w: w.client.delete(f"{CATALOG}?ids=a", headers=w.pro)),
    ("deleteReferenceImages", 422, lambda w: w.client.delete(CATALOG, headers=w.ent)),
    *download_probes(
        "downloadReferenceImage", World.reference_url, "catalog", f"{CATALOG}/abc/content"
    ),
    (
        "getMe",
        429,
        lambda w: repeat(FREE_PER_MINUTE + 1, lambda: w.client.get("/auth/v1/me", headers=w.free)),
    ),
    ("enhanceImages", 429, lambda w: repeat(PRO_IMAGES + 1, lambda: w.enhance(files=PNG))),
    ("listDomains", 200, lambda w: w.client.get(DOMAINS, headers=w.ent)),
    ("listDomains", 401, lambda w: w.client.get(DOMAINS)),
    ("listDomains", 403, lambda w: w.client.get(DOMAINS, headers=w.pro)),
    ("listDomains", 403, lambda w: w.client.get(DOMAINS, headers={**w.ent, **FOREIGN})),
    (
        "listDomains",
        429,
        lambda w: repeat(FREE_PER_MINUTE + 1, lambda: w.client.get(DOMAINS, headers=w.free)),
    ),
    ("addDomain", 201, lambda w: w.post(DOMAINS, headers=w.ent, files=form(origin="https://a.ex"))),
    *form_probes("addDomain", DOMAINS, form(origin="https://a.ex"), enterprise=True),
    ("addDomain", 401, lambda w: w.post(DOMAINS, files=form(origin="https://a.ex"))),
    ("addDomain", 403, lambda w: w.post(DOMAINS, headers=w.pro, files=form(origin="https://a.ex"))),
    ("addDomain", 409, lambda w: w.many_domains()),
    ("addDomain", 422, lambda w: w.post(DOMAINS, headers=w.ent, files=form(origin="https://*.ex"))),
    ("addDomain", 422, lambda w: w.post(DOMAINS, headers=w.ent, files=form(origin="null"))),
    (
        "addDomain",
        507,
        lambda w: w.disk_full().post(DOMAINS, headers=w.ent, files=form(origin="https://a.ex")),
    ),
    ("removeDomain", 204, lambda w: w.client.delete(f"{DOMAINS}/{w.domain_id()}", headers=w.ent)),
    ("removeDomain", 401, lambda w: w.client.delete(f"{DOMAINS}/abc")),
    ("removeDomain", 403, lambda w: w.client.delete(f"{DOMAINS}/abc", headers=w.pro)),
    ("removeDomain", 404, lambda w: w.client.delete(f"{DOMAINS}/abc", headers=w.ent)),
    ("removeDomain", 422, lambda w: w.client.delete(f"{DOMAINS}/{'a' * 65}", headers=w.ent)),
    (
        "removeDomain",
        507,
        lambda w: w.client.delete(f"{DOMAINS}/{w.domain_id()}", headers=w.disk_full().ent),
    ),
    # A browser call from an origin nobody registered, on routes with no plan rule of their own.
    ("getMe", 403, lambda w: w.client.get("/auth/v1/me", headers={**w.ent, **FOREIGN})),
    ("listApiKeys", 403, lambda w: w.client.get(KEYS, headers={**w.free, **FOREIGN})),
    (
        "createApiKey",
        403,
        lambda w: w.post(KEYS, headers={**w.ent, **FOREIGN}, files=form(name="ci")),
    ),
    ("revokeApiKey", 403, lambda w: w.client.delete(f"{KEYS}/abc", headers={**w.ent, **FOREIGN})),
    ("getUsage", 200, lambda w: w.client.get(USAGE, headers=w.free)),
    ("getUsage", 401, lambda w: w.client.get(USAGE)),
    ("getUsage", 403, lambda w: w.client.get(USAGE, headers={**w.free, **FOREIGN})),
    ("getUsage", 403, lambda w: w.client.get(USAGE, headers={**w.ent, **FOREIGN})),
]
# Routes whose 429 `rate-limited` comes from the same user dependency as getMe's and
# listDomains' (provoked above); tests/e2e/test_access_matrix.py provokes it per route.
SAME_RATE_LIMIT = "the per-minute limit of the user dependency, provoked on getMe and listDomains"
# 503 `limits-unavailable` needs an unreachable Redis (CROPEDLY_REDIS_URL); the probes' app
# keeps its limits in memory.
LIMITS_DOWN = "an unreachable Redis: tests/e2e/test_shared_limits_http.py provokes it"
# Documented but not provoked here, and why.
NOT_PROVOKED = {
    **{(operation_id, 500): "only on a server fault" for operation_id in READABLE_IDS},
    **{(operation_id, 429): SAME_RATE_LIMIT for operation_id in READABLE_IDS},
    **{(operation_id, 503): LIMITS_DOWN for operation_id in READABLE_IDS},
    ("enhanceImages", 503): "needs a full worker queue (tests/integration)",
    ("uploadReferenceImages", 503): "needs a full worker queue, as enhanceImages",
    (
        "deleteReferenceImages",
        507,
    ): "SQLite's journal on a full disk; the in-memory catalog cannot fill",
}


@pytest.fixture
def world() -> Iterator[World]:
    with running_provider() as provider:
        built = World(provider)
        with built.client:
            yield built


@pytest.mark.parametrize(
    ("operation_id", "status", "probe"),
    PROBES,
    ids=[f"{operation_id}-{status}" for operation_id, status, _ in PROBES],
)
def test_what_the_server_answers_is_documented(
    world: World, document: Document, operation_id: str, status: int, probe: Probe
) -> None:
    """Each probe gets its status over HTTP; that status, and for errors that problem type, is documented."""
    response = probe(world)
    assert status == response.status_code, response.text[:500]
    documented = by_id(document)[operation_id]["responses"]
    assert str(status) in documented
    if status >= 400:
        assert PROBLEM_MEDIA == response.headers["content-type"].split(";")[0]
        body = response.json()
        assert {"type", "title", "status", "detail"} <= set(body)
        assert status == body["status"]
        slug = body["type"].removeprefix(PROBLEM_BASE)
        assert f"`{slug}`" in documented[str(status)]["description"]
        for header in documented[str(status)].get("headers", {}):
            assert header.lower() in response.headers, header


def test_what_is_documented_is_answered(document: Document) -> None:
    """Every documented response is provoked by a probe above, or has a stated reason not to be."""
    documented = {
        (op["operationId"], int(status))
        for _, _, op in operations(document)
        for status in op["responses"]
    }
    provoked = {(operation_id, status) for operation_id, status, _ in PROBES}
    assert set() == documented - provoked - set(NOT_PROVOKED)


# --------------------------------------------------------------- the docs page


EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|srcset)\s*=\s*["']?\s*(?:https?:)?//)|(?:url\(\s*["']?\s*(?:https?:)?//)|@import""",
    re.IGNORECASE,
)


class TestDocsPage:
    @pytest.mark.parametrize("path", ["/schema", "/schema/redoc"])
    def test_html_references_nothing_remote(self, client: Client, path: str) -> None:
        response = client.get(path)
        assert 200 == response.status_code
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        assert "/schema/static/redoc.standalone.js" in html
        assert [] == EXTERNAL.findall(html)
        assert "fonts.googleapis" not in html
        assert "cdn." not in html

    def test_the_renderer_is_served_from_the_package(self, client: Client) -> None:
        response = client.get("/schema/static/redoc.standalone.js")
        assert 200 == response.status_code
        assert "javascript" in response.headers["content-type"]
        assert (STATIC_DIR / "redoc.standalone.js").read_bytes() == response.content
        assert "max-age" in response.headers["cache-control"]

    def test_licence_ships_next_to_the_bundle(self) -> None:
        names = {p.name for p in STATIC_DIR.iterdir()}
        assert {"redoc.standalone.js", "LICENSE", "redoc.standalone.js.LICENSE.txt"} <= names
        assert "MIT License" in (STATIC_DIR / "LICENSE").read_text()

    def test_no_path_escapes_the_static_folder(self, client: Client) -> None:
        for path in ("/schema/static/../openapi.py", "/schema/static/%2e%2e/openapi.py"):
            assert client.get(path).status_code == 404, path

    def test_no_cdn_only_docs_pages_remain(self, client: Client) -> None:
        for path in ("/schema/swagger", "/schema/rapidoc", "/schema/elements"):
            assert 404 == client.get(path).status_code, path


# ------------------------------------------- the docs page renders offline (Chromium)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real ``cropedly serve`` on a free loopback port; yields its base URL."""
    with running_server(server_env(tmp_path), tmp_path) as running:
        yield running.base


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium that can resolve no host name: only the loopback server answers."""
    chromium = require_chromium()
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    command = [
        str(chromium),
        "--headless",
        *FLAGS,
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # a CDN would not load
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
class TestRendersOffline:
    def test_redoc_renders_the_api(self, server: str, tmp_path: Path) -> None:
        """The DOM after rendering holds the API's operations: Redoc ran from our own files."""
        result = chromium(tmp_path, "--dump-dom", f"{server}/schema")
        assert 0 == result.returncode, result.stderr[-2000:]
        # What Redoc drew, not the document inlined in the page's script.
        dom = re.sub(r"<script\b.*?</script>", "", result.stdout, flags=re.DOTALL)
        assert "redoc-wrap" in dom, result.stderr[-2000:]
        for text in (
            'id="operation/enhanceImages"',
            "Enhance one or more images",
            "Log in with e-mail and password",
            "Content too large: ",  # an error response that complete_openapi added
        ):
            assert text in dom, f"{text!r} not rendered; stderr: {result.stderr[-2000:]}"

    def test_screenshot_shows_the_page(self, server: str, tmp_path: Path) -> None:
        """A screenshot of /schema is a real page, not a blank one."""
        shot = tmp_path / "schema.png"
        result = chromium(
            tmp_path, f"--screenshot={shot}", "--window-size=1280,900", f"{server}/schema"
        )
        assert shot.exists(), result.stderr[-2000:]
        with Image.open(io.BytesIO(shot.read_bytes())) as image:
            assert (1280, 900) == image.size
            colours = image.convert("L").getcolors(maxcolors=1_000_000) or []
        assert len(colours) > 20, "the page looks blank"
        if os.environ.get("CROPEDLY_SAVE_SCREENSHOT"):  # refresh docs/img/schema-offline.png
            shutil.copy(shot, os.environ["CROPEDLY_SAVE_SCREENSHOT"])
