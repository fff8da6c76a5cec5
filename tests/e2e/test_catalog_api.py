"""The Enterprise reference catalog over HTTP: routes per spec, paging, deletes, plans, quota."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import pytest
from litestar.testing import TestClient
from PIL import Image

from cropedly.bootstrap import Services, build_services
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_adapters.memory import ManualClock
from cropedly_core.users import Plan
from doubles import in_memory_services
from imaging import bearer, png_bytes

BASE = "/images/v1/enterprise-resources/images"
UPLOAD = f"{BASE}/upload"
PROBLEM = "https://cropedly.com/problems/"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIELDS = {"id", "url", "mimeType", "size", "width", "height", "originalName", "createdAt"}

Client: TypeAlias = "TestClient[Any]"


def files(*items: tuple[str, bytes], field: str = "images") -> list[tuple[str, Any]]:
    """A multipart ``files=`` argument with every item under ``field``."""
    return [(field, (name, data)) for name, data in items]


def path_of(url: str) -> str:
    """The path and query of an absolute URL, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def upload(client: Client, headers: dict[str, str], *names: str) -> None:
    """Upload one small PNG per name, each in its own request (so each is newer)."""
    for name in names:
        response = client.post(UPLOAD, files=files((name, png_bytes())), headers=headers)
        assert 204 == response.status_code, response.text


def listing(client: Client, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get(BASE, params=params, headers=headers)
    assert 200 == response.status_code, response.text
    return list(response.json())


@pytest.fixture
def services() -> Services:
    """In-memory services with the Lanczos upscaler and a manual clock."""
    return in_memory_services(Settings(upscaler="lanczos"), clock=ManualClock())


@pytest.fixture
def client(services: Services) -> Iterator[Client]:
    with TestClient(app=create_app(services)) as test_client:
        yield test_client


@pytest.fixture
def ent(services: Services) -> dict[str, str]:
    """Authorization of an Enterprise account."""
    return bearer(services, "ent@example.com", Plan.ENTERPRISE)


class TestUpload:
    def test_upload_is_204_with_empty_body(
        self, client: Client, services: Services, ent: dict[str, str]
    ) -> None:
        """An upload under ``images`` answers 204 with no body and stores one blob."""
        response = client.post(UPLOAD, files=files(("a.png", png_bytes())), headers=ent)
        assert 204 == response.status_code
        assert b"" == response.content
        assert 1 == len(services.blobs.keys("catalog/"))

    def test_brackets_field_name_is_accepted(
        self, client: Client, services: Services, ent: dict[str, str]
    ) -> None:
        """Files sent as ``images[]`` are uploaded like ``images``."""
        sent = files(("a.png", png_bytes()), ("b.png", png_bytes()), field="images[]")
        response = client.post(UPLOAD, files=sent, headers=ent)
        assert 204 == response.status_code
        assert {"a.png", "b.png"} == {i["originalName"] for i in listing(client, ent)}

    @pytest.mark.parametrize("hostile", ["truncated_jpeg.jpg", "decompression_bomb.gif"])
    def test_hostile_file_fails_whole_batch(
        self, client: Client, services: Services, ent: dict[str, str], hostile: str
    ) -> None:
        """A hostile file beside a good one is a 4xx problem and nothing at all is stored."""
        bad = (SHARED / "testdata" / "hostile" / hostile).read_bytes()
        response = client.post(
            UPLOAD, files=files(("good.png", png_bytes()), (hostile, bad)), headers=ent
        )
        assert (413 if "bomb" in hostile else 422) == response.status_code
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [] == list(services.blobs.keys())
        assert [] == listing(client, ent)

    def test_stored_reference_is_upright_without_metadata(
        self, client: Client, ent: dict[str, str]
    ) -> None:
        """An EXIF orientation-6 JPEG is stored rotated upright, with no EXIF or GPS."""
        raw_bytes = (SHARED / "testdata" / "valid" / "hopper_orientation_6.jpg").read_bytes()
        raw = Image.open(io.BytesIO(raw_bytes))
        assert 6 == raw.getexif().get(0x0112)
        upload_response = client.post(UPLOAD, files=files(("h.jpg", raw_bytes)), headers=ent)
        assert 204 == upload_response.status_code
        (item,) = listing(client, ent)
        content = client.get(path_of(item["url"]))
        assert 200 == content.status_code
        stored = Image.open(io.BytesIO(content.content))
        assert (raw.height, raw.width) == stored.size
        assert (item["width"], item["height"]) == stored.size
        exif = stored.getexif()
        assert None is exif.get(0x0112)
        assert {} == dict(exif.get_ifd(0x8825))  # GPS IFD
        assert "exif" not in stored.info

    def test_empty_upload_is_422(self, client: Client, ent: dict[str, str]) -> None:
        """A multipart body without any file is refused with 422."""
        response = client.post(UPLOAD, data={"note": "x"}, headers=ent)
        assert 422 == response.status_code


class TestList:
    def test_items_have_the_documented_fields_newest_first(
        self, client: Client, ent: dict[str, str]
    ) -> None:
        """Each item has exactly the documented fields and the newest upload comes first."""
        upload(client, ent, "first.png", "second.png", "third.png")
        items = listing(client, ent)
        assert ["third.png", "second.png", "first.png"] == [i["originalName"] for i in items]
        for item in items:
            assert FIELDS == set(item)
            assert "image/png" == item["mimeType"]
            assert (8, 6) == (item["width"], item["height"])
            assert item["size"] > 0
            assert item["createdAt"].endswith("Z")

    def test_paging_walks_every_item_exactly_once(
        self, client: Client, ent: dict[str, str]
    ) -> None:
        """Following ``Link: rel=next`` visits all items once, newest first; the last page has no Link."""
        names = [f"{n}.png" for n in range(5)]
        upload(client, ent, *names)
        seen: list[str] = []
        url: str | None = f"{BASE}?limit=2"
        pages = 0
        while url is not None:
            response = client.get(url, headers=ent)
            assert 200 == response.status_code
            seen += [i["originalName"] for i in response.json()]
            pages += 1
            link = response.headers.get("link")
            if link is None:
                url = None
            else:
                assert link.endswith('>; rel="next"')
                url = path_of(link[1 : link.index(">")])
        assert list(reversed(names)) == seen
        assert 3 == pages

    def test_exact_fit_has_no_next_link(self, client: Client, ent: dict[str, str]) -> None:
        """When the page holds the last items exactly, no Link header is sent."""
        upload(client, ent, "a.png", "b.png")
        response = client.get(BASE, params={"limit": 2}, headers=ent)
        assert 2 == len(response.json())
        assert None is response.headers.get("link")

    @pytest.mark.parametrize("cursor", ["garbage!", "czEy==x", "eDEy", "%%%"])
    def test_bad_cursor_is_422(self, client: Client, ent: dict[str, str], cursor: str) -> None:
        """A cursor this API did not issue is refused with a 422 problem."""
        response = client.get(BASE, params={"cursor": cursor}, headers=ent)
        assert 422 == response.status_code
        assert response.headers["content-type"].startswith("application/problem+json")

    @pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
    def test_limit_out_of_range_is_422(
        self, client: Client, ent: dict[str, str], limit: str
    ) -> None:
        """``limit`` outside 1..200 is an invalid-input problem naming it."""
        response = client.get(BASE, params={"limit": limit}, headers=ent)
        assert 422 == response.status_code
        assert ["limit"] == [e["field"] for e in response.json()["errors"]]

    def test_limit_200_is_accepted(self, client: Client, ent: dict[str, str]) -> None:
        """``limit=200`` (the maximum) is accepted."""
        assert [] == listing(client, ent, limit=200)


class TestGetOne:
    def test_get_by_id_returns_the_listed_object(self, client: Client, ent: dict[str, str]) -> None:
        """GET by id answers 200 with the same metadata as the listing."""
        upload(client, ent, "one.png")
        (item,) = listing(client, ent)
        response = client.get(f"{BASE}/{item['id']}", headers=ent)
        assert 200 == response.status_code
        got = response.json()
        assert FIELDS == set(got)
        assert {k: v for k, v in item.items() if k != "url"} == {
            k: v for k, v in got.items() if k != "url"
        }

    def test_unknown_id_is_404(self, client: Client, ent: dict[str, str]) -> None:
        """An id that does not exist is 404 not-found."""
        response = client.get(f"{BASE}/doesnotexist", headers=ent)
        assert 404 == response.status_code
        assert f"{PROBLEM}not-found" == response.json()["type"]


class TestDelete:
    @pytest.mark.parametrize("style", ["repeated", "comma"])
    def test_delete_by_ids_removes_rows_and_blobs(
        self, client: Client, services: Services, ent: dict[str, str], style: str
    ) -> None:
        """``?ids=a&ids=b`` and ``?ids=a,b`` both delete exactly those images and their blobs."""
        upload(client, ent, "a.png", "b.png", "c.png")
        by_name = {i["originalName"]: i["id"] for i in listing(client, ent)}
        gone = [by_name["a.png"], by_name["b.png"]]
        query = f"ids={gone[0]}&ids={gone[1]}" if style == "repeated" else f"ids={','.join(gone)}"
        response = client.delete(f"{BASE}?{query}", headers=ent)
        assert 204 == response.status_code
        assert b"" == response.content
        assert ["c.png"] == [i["originalName"] for i in listing(client, ent)]
        assert 404 == client.get(f"{BASE}/{gone[0]}", headers=ent).status_code
        keys = services.blobs.keys("catalog/")
        assert 1 == len(keys)
        assert by_name["c.png"] in keys[0]

    def test_unknown_ids_are_ignored_and_repeat_is_idempotent(
        self, client: Client, services: Services, ent: dict[str, str]
    ) -> None:
        """Unknown ids are ignored and deleting the same ids again still answers 204."""
        upload(client, ent, "a.png", "b.png")
        by_name = {i["originalName"]: i["id"] for i in listing(client, ent)}
        query = {"ids": [by_name["a.png"], "nope"]}
        assert 204 == client.delete(BASE, params=query, headers=ent).status_code
        assert 204 == client.delete(BASE, params=query, headers=ent).status_code
        assert ["b.png"] == [i["originalName"] for i in listing(client, ent)]
        assert 1 == len(services.blobs.keys("catalog/"))

    @pytest.mark.parametrize("query", ["", "?ids=", "?ids=,", "?ids=%20"])
    def test_no_ids_is_422(self, client: Client, ent: dict[str, str], query: str) -> None:
        """A delete without any id is refused with 422."""
        response = client.delete(f"{BASE}{query}", headers=ent)
        assert 422 == response.status_code

    def test_more_than_100_ids_is_422(self, client: Client, ent: dict[str, str]) -> None:
        """101 distinct ids in one call are refused with 422; 100 are accepted."""
        ids = [f"id{n}" for n in range(101)]
        assert 422 == client.delete(BASE, params={"ids": ids}, headers=ent).status_code
        assert 204 == client.delete(BASE, params={"ids": ids[:100]}, headers=ent).status_code


ROUTES = [
    ("POST", UPLOAD),
    ("GET", BASE),
    ("GET", f"{BASE}/someid"),
    ("DELETE", f"{BASE}?ids=someid"),
]


class TestPlans:
    @pytest.mark.parametrize("plan", [Plan.FREE, Plan.PRO])
    @pytest.mark.parametrize(("method", "url"), ROUTES)
    def test_non_enterprise_is_403(
        self, client: Client, services: Services, plan: Plan, method: str, url: str
    ) -> None:
        """Free and Pro accounts get 403 enterprise-plan-required on every catalog route."""
        headers = bearer(services, f"{plan.value}@example.com", plan)
        extra: dict[str, Any] = {"files": files(("a.png", png_bytes()))} if method == "POST" else {}
        response = client.request(method, url, headers=headers, **extra)
        assert 403 == response.status_code
        assert f"{PROBLEM}enterprise-plan-required" == response.json()["type"]
        assert [] == list(services.blobs.keys())

    @pytest.mark.parametrize(("method", "url"), ROUTES)
    def test_no_token_is_401(self, client: Client, method: str, url: str) -> None:
        """Without a token every catalog route answers 401."""
        extra: dict[str, Any] = {"files": files(("a.png", png_bytes()))} if method == "POST" else {}
        assert 401 == client.request(method, url, **extra).status_code


class TestQuota:
    @pytest.fixture
    def small(self) -> Iterator[tuple[Client, Services, dict[str, str]]]:
        """A client whose catalog quota is three images."""
        services = in_memory_services(
            Settings(upscaler="lanczos", catalog_max_images=3), clock=ManualClock()
        )
        with TestClient(app=create_app(services)) as test_client:
            yield test_client, services, bearer(services, "ent@example.com", Plan.ENTERPRISE)

    def test_batch_past_the_image_quota_is_413_and_stores_nothing(
        self, small: tuple[Client, Services, dict[str, str]]
    ) -> None:
        """With two stored and a quota of three, a batch of two is 413 quota-exceeded; none is kept."""
        client, services, ent = small
        upload(client, ent, "a.png", "b.png")
        batch = files(("c.png", png_bytes()), ("d.png", png_bytes()))
        response = client.post(UPLOAD, files=batch, headers=ent)
        assert 413 == response.status_code
        assert f"{PROBLEM}quota-exceeded" == response.json()["type"]
        assert 2 == len(services.blobs.keys("catalog/"))
        assert ["b.png", "a.png"] == [i["originalName"] for i in listing(client, ent)]
        upload(client, ent, "c.png")  # exactly at the quota is fine

    def test_byte_quota_is_enforced_after_normalising(self) -> None:
        """A byte quota smaller than the normalised file refuses it with 413 and stores nothing."""
        services = in_memory_services(
            Settings(upscaler="lanczos", catalog_max_bytes=10), clock=ManualClock()
        )
        with TestClient(app=create_app(services)) as client:
            ent = bearer(services, "ent@example.com", Plan.ENTERPRISE)
            response = client.post(UPLOAD, files=files(("a.png", png_bytes())), headers=ent)
            assert 413 == response.status_code
            assert f"{PROBLEM}quota-exceeded" == response.json()["type"]
            assert [] == list(services.blobs.keys())


class TestOpenApi:
    def test_schema_documents_the_catalog(self, client: Client) -> None:
        """The OpenAPI schema lists the five catalog operations and the multipart ``images`` body."""
        paths = client.get("/schema/openapi.json").json()["paths"]
        assert {"post"} <= set(paths[UPLOAD])
        assert {"get", "delete"} <= set(paths[BASE])
        item = next(p for p in paths if p.startswith(f"{BASE}/{{") and p.count("/") == 5)
        assert {"get"} <= set(paths[item])
        content = next(p for p in paths if p.startswith(f"{BASE}/{{") and p.endswith("/content"))
        assert {"get"} <= set(paths[content])
        body = paths[UPLOAD]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert "images" in body["properties"]


class TestProductionWiring:
    def test_catalog_round_trip_on_sqlite_and_files(self, tmp_path: Path) -> None:
        """Through ``build_services`` (SQLite, fsspec files): upload, list, fetch, get, delete."""
        services = build_services(
            Settings(upscaler="lanczos", data_dir=tmp_path), start_workers=False
        )
        try:
            with TestClient(app=create_app(services)) as client:
                ent = bearer(services, "ent@example.com", Plan.ENTERPRISE)
                upload(client, ent, "a.png", "b.png")
                items = listing(client, ent, limit=1)
                assert ["b.png"] == [i["originalName"] for i in items]
                content = client.get(path_of(items[0]["url"]))
                assert 200 == content.status_code
                assert (8, 6) == Image.open(io.BytesIO(content.content)).size
                got = client.get(f"{BASE}/{items[0]['id']}", headers=ent)
                assert items[0]["createdAt"] == got.json()["createdAt"]
                gone = client.delete(BASE, params={"ids": items[0]["id"]}, headers=ent)
                assert 204 == gone.status_code
                assert 404 == client.get(path_of(items[0]["url"])).status_code
                assert ["a.png"] == [i["originalName"] for i in listing(client, ent)]
                assert 1 == len(services.blobs.keys("catalog/"))
        finally:
            services.close()
