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
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import httpx
import pytest
from litestar.testing import TestClient
from PIL import Image

from cropedly.bootstrap import Services
from cropedly.http.app import create_app
from cropedly.http.openapi import OPERATIONS, STATIC_DIR
from cropedly.settings import Settings
from cropedly_adapters.memory import InMemoryMailer, ManualClock
from cropedly_core.users import Plan
from doubles import in_memory_services
from imaging import PASSWORD, bearer, png_bytes

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
    "getJwks",
    "login",
    "register",
    "getMe",
    "forgotPassword",
    "resetPassword",
    "enhanceImages",
    "downloadResult",
    "uploadReferenceImages",
    "listReferenceImages",
    "getReferenceImage",
    "deleteReferenceImages",
    "downloadReferenceImage",
}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/avif"}
CHROMIUM = Path("/usr/bin/chromium")
APT_CHROMIUM = "apt-get update && apt-get install -y --no-install-recommends chromium"
MAX_REQUEST = 60_000
MAX_FILE = 20_000


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

    def test_operations_with_a_body_have_400_and_413(self, document: Document) -> None:
        """Any body may be malformed (400) or too large (413)."""
        for method, path, operation in operations(document):
            if "requestBody" in operation:
                assert {400, 413} <= set(errors_of(operation)), f"{method} {path}"

    def test_uploads_have_every_image_refusal(self, document: Document) -> None:
        """Operations taking image files refuse them with 413, 415, 422 and may be busy (503)."""
        uploads = 0
        for method, path, operation in operations(document):
            form = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            properties = (form or {}).get("schema", {}).get("properties", {})
            if properties.get("images", {}).get("items", {}).get("format") == "binary":
                uploads += 1
                assert {400, 413, 415, 422, 503} <= set(errors_of(operation)), f"{method} {path}"
                assert "Retry-After" in errors_of(operation)[503]["headers"]
        assert 2 == uploads

    def test_parameters_that_can_be_wrong(self, document: Document) -> None:
        """A path id can name nothing (404); a required or bounded query parameter, 400."""
        for method, path, operation in operations(document):
            for parameter in operation.get("parameters", []):
                where = f"{method} {path} {parameter['name']}"
                if parameter["in"] == "path":
                    assert 404 in errors_of(operation), where
                schema = parameter.get("schema", {})
                bounded = "minimum" in schema or "maximum" in schema
                if parameter["in"] == "query" and (parameter.get("required") or bounded):
                    assert 400 in errors_of(operation), where

    def test_throttled_and_busy_answers_say_when_to_retry(self, document: Document) -> None:
        for method, path, operation in operations(document):
            for status in {429, 503} & set(errors_of(operation)):
                assert "Retry-After" in errors_of(operation)[status]["headers"], f"{method} {path}"


class TestProblemSchema:
    def test_rfc_9457_members_and_ours(self, document: Document) -> None:
        problem = document["components"]["schemas"]["Problem"]
        assert "object" == problem["type"]
        assert {"type", "title", "status", "detail"} == set(problem["required"])
        properties = problem["properties"]
        assert {"type", "title", "status", "detail", "instance", "errors", "requiredPlan"} == set(
            properties
        )
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
        assert {"200", "206", "304", "400", "403", "404", "416", "500"} == set(responses)
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


class World:
    """An app with a Free, a Pro and an Enterprise account, and small limits."""

    def __init__(self, client: Client, services: Services, outbox: InMemoryMailer) -> None:
        self.client = client
        self.services = services
        self.outbox = outbox
        self.free = bearer(services, "free@example.com", Plan.FREE)
        self.pro = bearer(services, "pro@example.com", Plan.PRO)
        self.ent = bearer(services, "ent@example.com", Plan.ENTERPRISE)

    def enhance(self, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.post("/images/v1", headers=headers or self.pro, **kwargs)

    def upload(self, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(f"{CATALOG}/upload", headers=headers or self.ent, **kwargs)

    def result_url(self) -> str:
        response = self.enhance(files=[("images", ("a.png", png_bytes()))], data={"format": "png"})
        assert 200 == response.status_code, response.text
        return local(response.json()[0]["url"])

    def reference_url(self) -> str:
        assert 204 == self.upload(files=[("images", ("r.png", png_bytes()))]).status_code
        listed = self.client.get(CATALOG, headers=self.ent)
        assert 200 == listed.status_code, listed.text
        return local(listed.json()[0]["url"])

    def signed(self, kind: str, path: str, resource_id: str) -> str:
        expires = self.services.clock.now() + timedelta(hours=1)
        stamp, signature = self.services.links.sign(kind, resource_id, expires)
        return f"{path}?expires={stamp}&sig={signature}"

    def reset_token(self) -> str:
        self.services.accounts.register("reset@example.com", PASSWORD, "Reset Me")
        forgot = self.client.post("/auth/v1/forgot-password", files=form(email="reset@example.com"))
        assert 202 == forgot.status_code, forgot.text
        found = re.search(r"^    (\S+\.\d+\.\S+)$", self.outbox.outbox[-1].body, re.MULTILINE)
        assert found is not None
        return found.group(1)


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


BIG = b"x" * (MAX_REQUEST + 1)
TOO_LARGE_FILE = b"\x89PNG" + b"\0" * MAX_FILE
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
MIXED = images(("empty.png", b""), ("huge.png", TOO_LARGE_FILE))  # 422 + 413 -> 400
BAD_MULTIPART = b"--zz\r\nbroken"
MULTIPART = {"content-type": "multipart/form-data; boundary=zz"}
Probe: TypeAlias = Callable[[World], httpx.Response]
R = "/images/v1/results"

# (operation id, status the server answers, a request that gets it)
PROBES: list[tuple[str, int, Probe]] = [
    ("getServiceInfo", 200, lambda w: w.client.get("/")),
    ("getHealth", 200, lambda w: w.client.get("/health")),
    ("getJwks", 200, lambda w: w.client.get("/.well-known/jwks.json")),
    (
        "login",
        200,
        lambda w: w.client.post(
            "/auth/v1/login", files=form(email="pro@example.com", password=PASSWORD)
        ),
    ),
    ("login", 400, lambda w: w.client.post("/auth/v1/login", files=form(email="a@example.com"))),
    (
        "login",
        401,
        lambda w: w.client.post(
            "/auth/v1/login", files=form(email="pro@example.com", password="wrong password 1")
        ),
    ),
    (
        "login",
        413,
        lambda w: w.client.post("/auth/v1/login", files=form(email="a", password=BIG.decode())),
    ),
    (
        "login",
        429,
        lambda w: repeat(
            6,
            lambda: w.client.post(
                "/auth/v1/login", files=form(email="pro@example.com", password="wrong password 1")
            ),
        ),
    ),
    (
        "register",
        201,
        lambda w: w.client.post(
            "/auth/v1/register", files=form(email="n@example.com", password=PASSWORD, name="N")
        ),
    ),
    (
        "register",
        400,
        lambda w: w.client.post("/auth/v1/register", files=form(email="n@example.com")),
    ),
    (
        "register",
        409,
        lambda w: w.client.post(
            "/auth/v1/register", files=form(email="pro@example.com", password=PASSWORD, name="P")
        ),
    ),
    (
        "register",
        413,
        lambda w: w.client.post(
            "/auth/v1/register",
            content=BIG,
            headers={"content-type": "multipart/form-data; boundary=zz"},
        ),
    ),
    (
        "register",
        422,
        lambda w: w.client.post(
            "/auth/v1/register", files=form(email="n@example.com", password="short", name="N")
        ),
    ),
    ("getMe", 200, lambda w: w.client.get("/auth/v1/me", headers=w.free)),
    ("getMe", 401, lambda w: w.client.get("/auth/v1/me")),
    (
        "getMe",
        401,
        lambda w: w.client.get("/auth/v1/me", headers={"Authorization": "Bearer x.y.z"}),
    ),
    (
        "forgotPassword",
        202,
        lambda w: w.client.post("/auth/v1/forgot-password", files=form(email="x@example.com")),
    ),
    (
        "forgotPassword",
        400,
        lambda w: w.client.post("/auth/v1/forgot-password", json={"email": "a"}),
    ),
    (
        "forgotPassword",
        413,
        lambda w: w.client.post("/auth/v1/forgot-password", files=form(email=BIG.decode())),
    ),
    (
        "forgotPassword",
        429,
        lambda w: repeat(
            4,
            lambda: w.client.post("/auth/v1/forgot-password", files=form(email="pro@example.com")),
        ),
    ),
    (
        "resetPassword",
        204,
        lambda w: w.client.post(
            "/auth/v1/reset-password",
            files=form(token=w.reset_token(), password="a new long passphrase 7"),
        ),
    ),
    (
        "resetPassword",
        400,
        lambda w: w.client.post("/auth/v1/reset-password", files=form(token="a.1.b")),
    ),
    (
        "resetPassword",
        403,
        lambda w: w.client.post(
            "/auth/v1/reset-password", files=form(token="a.1.b", password=PASSWORD)
        ),
    ),
    (
        "resetPassword",
        413,
        lambda w: w.client.post(
            "/auth/v1/reset-password", files=form(token=BIG.decode(), password="p")
        ),
    ),
    (
        "resetPassword",
        422,
        lambda w: w.client.post(
            "/auth/v1/reset-password", files=form(token=w.reset_token(), password="short")
        ),
    ),
    ("enhanceImages", 200, lambda w: w.enhance(files=images(("a.png", png_bytes())))),
    ("enhanceImages", 400, lambda w: w.enhance(files=MIXED)),
    ("enhanceImages", 400, lambda w: w.enhance({**w.pro, **MULTIPART}, content=BAD_MULTIPART)),
    (
        "enhanceImages",
        401,
        lambda w: w.client.post("/images/v1", files=images(("a.png", png_bytes()))),
    ),
    ("enhanceImages", 403, lambda w: w.enhance(w.free, files=images(("a.png", png_bytes())))),
    (
        "enhanceImages",
        404,
        lambda w: w.enhance(
            w.ent, files=images(("a.png", png_bytes())), data={"referenceId": "nope"}
        ),
    ),
    ("enhanceImages", 413, lambda w: w.enhance(files=images(("a.png", BIG)))),
    ("enhanceImages", 413, lambda w: w.enhance(files=images(("a.png", TOO_LARGE_FILE)))),
    ("enhanceImages", 415, lambda w: w.enhance(files=images(("a.pdf", PDF)))),
    ("enhanceImages", 422, lambda w: w.enhance(files=images(("a.png", b"")))),
    (
        "enhanceImages",
        422,
        lambda w: w.enhance(files=images(("a.png", png_bytes())), data={"upscale": "3"}),
    ),
    ("downloadResult", 200, lambda w: w.client.get(w.result_url())),
    ("downloadResult", 206, lambda w: w.client.get(w.result_url(), headers={"Range": "bytes=0-3"})),
    (
        "downloadResult",
        304,
        lambda w: w.client.get(w.result_url(), headers={"If-None-Match": "*"}),
    ),
    ("downloadResult", 400, lambda w: w.client.get(f"{R}/abc")),
    ("downloadResult", 403, lambda w: w.client.get(f"{R}/abc?expires=1&sig=x")),
    ("downloadResult", 404, lambda w: w.client.get(w.signed("result", f"{R}/abc", "abc"))),
    (
        "downloadResult",
        416,
        lambda w: w.client.get(w.result_url(), headers={"Range": "bytes=99999999-"}),
    ),
    ("uploadReferenceImages", 204, lambda w: w.upload(files=images(("a.png", png_bytes())))),
    ("uploadReferenceImages", 400, lambda w: w.upload(files=MIXED)),
    ("uploadReferenceImages", 401, lambda w: w.client.post(f"{CATALOG}/upload")),
    ("uploadReferenceImages", 403, lambda w: w.upload(w.pro, files=images(("a.png", png_bytes())))),
    ("uploadReferenceImages", 413, lambda w: w.upload(files=images(("a.png", BIG)))),
    ("uploadReferenceImages", 415, lambda w: w.upload(files=images(("a.pdf", PDF)))),
    ("uploadReferenceImages", 422, lambda w: w.upload(data={"x": "y"})),
    ("listReferenceImages", 200, lambda w: w.client.get(CATALOG, headers=w.ent)),
    (
        "listReferenceImages",
        400,
        lambda w: w.client.get(CATALOG, params={"limit": 0}, headers=w.ent),
    ),
    ("listReferenceImages", 401, lambda w: w.client.get(CATALOG)),
    ("listReferenceImages", 403, lambda w: w.client.get(CATALOG, headers=w.pro)),
    (
        "listReferenceImages",
        422,
        lambda w: w.client.get(CATALOG, params={"cursor": "zz"}, headers=w.ent),
    ),
    (
        "getReferenceImage",
        200,
        lambda w: w.client.get(f"{CATALOG}/{w.reference_url().split('/')[-2]}", headers=w.ent),
    ),
    ("getReferenceImage", 401, lambda w: w.client.get(f"{CATALOG}/abc")),
    ("getReferenceImage", 403, lambda w: w.client.get(f"{CATALOG}/abc", headers=w.free)),
    ("getReferenceImage", 404, lambda w: w.client.get(f"{CATALOG}/abc", headers=w.ent)),
    ("deleteReferenceImages", 204, lambda w: w.client.delete(f"{CATALOG}?ids=a", headers=w.ent)),
    ("deleteReferenceImages", 401, lambda w: w.client.delete(f"{CATALOG}?ids=a")),
    ("deleteReferenceImages", 403, lambda w: w.client.delete(f"{CATALOG}?ids=a", headers=w.pro)),
    ("deleteReferenceImages", 422, lambda w: w.client.delete(CATALOG, headers=w.ent)),
    ("downloadReferenceImage", 200, lambda w: w.client.get(w.reference_url())),
    (
        "downloadReferenceImage",
        206,
        lambda w: w.client.get(w.reference_url(), headers={"Range": "bytes=-4"}),
    ),
    (
        "downloadReferenceImage",
        304,
        lambda w: w.client.get(w.reference_url(), headers={"If-None-Match": "*"}),
    ),
    ("downloadReferenceImage", 400, lambda w: w.client.get(f"{CATALOG}/abc/content?sig=x")),
    (
        "downloadReferenceImage",
        403,
        lambda w: w.client.get(f"{CATALOG}/abc/content?expires=1&sig=x"),
    ),
    (
        "downloadReferenceImage",
        404,
        lambda w: w.client.get(w.signed("catalog", f"{CATALOG}/abc/content", "abc")),
    ),
    (
        "downloadReferenceImage",
        416,
        lambda w: w.client.get(w.reference_url(), headers={"Range": "bytes=99999999-"}),
    ),
]
# Documented but not provoked here, and why.
NOT_PROVOKED = {
    **{(operation_id, 500): "only on a server fault" for operation_id in READABLE_IDS},
    ("enhanceImages", 503): "needs a full worker queue (tests/integration/test_workers.py)",
    ("uploadReferenceImages", 503): "needs a full worker queue, as enhanceImages",
}


@pytest.fixture
def world() -> Iterator[World]:
    outbox = InMemoryMailer()
    services = in_memory_services(
        Settings(upscaler="lanczos", max_request_bytes=MAX_REQUEST, max_file_bytes=MAX_FILE),
        clock=ManualClock(),
        mail=outbox,
    )
    with TestClient(app=create_app(services)) as client:
        yield World(client, services, outbox)


@pytest.mark.parametrize(
    ("operation_id", "status", "probe"),
    PROBES,
    ids=[f"{operation_id}-{status}" for operation_id, status, _ in PROBES],
)
def test_what_the_server_answers_is_documented(
    world: World, document: Document, operation_id: str, status: int, probe: Probe
) -> None:
    """Each probe gets its status over HTTP, and that status is in the operation's responses."""
    response = probe(world)
    assert status == response.status_code, response.text[:500]
    assert str(status) in by_id(document)[operation_id]["responses"]
    if status >= 400:
        assert PROBLEM_MEDIA == response.headers["content-type"].split(";")[0]
        body = response.json()
        assert {"type", "title", "status", "detail"} <= set(body)
        assert status == body["status"]


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real ``cropedly serve`` on a free loopback port; yields its base URL."""
    env = {
        **os.environ,
        "CROPEDLY_DATA_DIR": str(tmp_path / "data"),
        "CROPEDLY_UPSCALER": "lanczos",
        "CROPEDLY_IMAGE_WORKERS": "1",
        "CROPEDLY_LOG_LEVEL": "WARNING",
    }
    port = free_port()
    log = tmp_path / "server.stderr"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cropedly.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"cropedly serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"cropedly serve not healthy after 30 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium that can resolve no host name: only the loopback server answers."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; install it with: {APT_CHROMIUM}")
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
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
