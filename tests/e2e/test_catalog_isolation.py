"""Catalog isolation: random ids, per-account blob keys, and no cross-account access."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TypeAlias
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from litestar.testing import TestClient

from cropedly.bootstrap import Services
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_adapters.memory import ManualClock
from cropedly_adapters.system import RandomIds
from cropedly_core.users import Plan
from doubles import in_memory_services
from imaging import bearer, png_bytes

BASE = "/images/v1/enterprise-resources/images"
UPLOAD = f"{BASE}/upload"
URL_SAFE_22 = re.compile(r"^[A-Za-z0-9_-]{22}$")

Client: TypeAlias = "TestClient[Any]"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def upload(client: Client, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    """Upload ``count`` small PNGs in one batch and return the caller's listing."""
    sent = [("images", (f"{n}.png", png_bytes())) for n in range(count)]
    assert 204 == client.post(UPLOAD, files=sent, headers=headers).status_code
    response = client.get(BASE, headers=headers)
    assert 200 == response.status_code
    return list(response.json())


@pytest.fixture
def world() -> Iterator[tuple[Client, Services, dict[str, str], dict[str, str]]]:
    """Services with the real random ids, a client, and two Enterprise accounts A and B."""
    services = in_memory_services(
        Settings(upscaler="lanczos"), clock=ManualClock(), ids=RandomIds()
    )
    with TestClient(app=create_app(services)) as client:
        a = bearer(services, "a@example.com", Plan.ENTERPRISE)
        b = bearer(services, "b@example.com", Plan.ENTERPRISE)
        yield client, services, a, b


def owner_id(services: Services, email: str) -> str:
    user = services.accounts.users.get_by_email(email)
    assert user is not None
    return user.id


class TestIdsAndKeys:
    def test_ids_are_128_bit_url_safe_and_distinct(
        self, world: tuple[Client, Services, dict[str, str], dict[str, str]]
    ) -> None:
        """With the real id generator, image ids are 22 url-safe characters (128 bits), all distinct."""
        client, _, a, _ = world
        items = upload(client, a, 4)
        ids = [i["id"] for i in items]
        assert 4 == len(set(ids))
        for image_id in ids:
            assert URL_SAFE_22.match(image_id), image_id

    def test_blob_keys_are_prefixed_per_account(
        self, world: tuple[Client, Services, dict[str, str], dict[str, str]]
    ) -> None:
        """Each account's blobs live under ``catalog/<owner_id>/`` and hold its image ids."""
        client, services, a, b = world
        a_items, b_items = upload(client, a, 2), upload(client, b, 1)
        a_keys = services.blobs.keys(f"catalog/{owner_id(services, 'a@example.com')}/")
        b_keys = services.blobs.keys(f"catalog/{owner_id(services, 'b@example.com')}/")
        assert 2 == len(a_keys)
        assert 1 == len(b_keys)
        assert sorted(i["id"] for i in a_items) == sorted(
            k.rsplit("/", 1)[1].split(".")[0] for k in a_keys
        )
        assert b_items[0]["id"] in b_keys[0]


class TestTwoAccounts:
    def test_listings_are_separate(
        self, world: tuple[Client, Services, dict[str, str], dict[str, str]]
    ) -> None:
        """Each account lists only its own images."""
        client, _, a, b = world
        a_ids = {i["id"] for i in upload(client, a, 2)}
        b_ids = {i["id"] for i in upload(client, b, 1)}
        assert a_ids.isdisjoint(b_ids)
        assert a_ids == {i["id"] for i in client.get(BASE, headers=a).json()}

    def test_foreign_id_is_404_like_an_unknown_one(
        self, world: tuple[Client, Services, dict[str, str], dict[str, str]]
    ) -> None:
        """B reading A's image gets the same 404 body as for an id that never existed."""
        client, _, a, b = world
        (item,) = upload(client, a, 1)
        foreign = client.get(f"{BASE}/{item['id']}", headers=b)
        unknown = client.get(f"{BASE}/{'x' * 22}", headers=b)
        assert 404 == foreign.status_code
        assert unknown.status_code == foreign.status_code
        body, unknown_body = foreign.json(), unknown.json()
        for answer in (body, unknown_body):  # what names the request, not the image
            answer.pop("instance", None)
            answer.pop("requestId", None)
        assert unknown_body == body

    def test_signed_url_works_and_tampering_is_403(
        self, world: tuple[Client, Services, dict[str, str], dict[str, str]]
    ) -> None:
        """A's signed link fetches the bytes; a changed signature or a swapped id is 403."""
        client, _, a, _ = world
        first, second = upload(client, a, 2)
        assert 200 == client.get(path_of(first["url"])).status_code
        parts = urlsplit(first["url"])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        sig = query["sig"]
        flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
        tampered = f"{parts.path}?{urlencode({**query, 'sig': flipped})}"
        assert 403 == client.get(tampered).status_code
        swapped = f"{parts.path.replace(first['id'], second['id'])}?{parts.query}"
        assert 403 == client.get(swapped).status_code
        later = f"{parts.path}?{urlencode({**query, 'expires': int(query['expires']) + 1})}"
        assert 403 == client.get(later).status_code

    def test_delete_of_foreign_ids_is_ignored(
        self, world: tuple[Client, Services, dict[str, str], dict[str, str]]
    ) -> None:
        """B deleting A's ids answers 204 and removes nothing of A's, rows or blobs."""
        client, services, a, b = world
        a_items = upload(client, a, 2)
        (b_item,) = upload(client, b, 1)
        ids = [i["id"] for i in a_items] + [b_item["id"]]
        assert 204 == client.delete(BASE, params={"ids": ids}, headers=b).status_code
        assert [] == client.get(BASE, headers=b).json()
        assert [i["id"] for i in a_items] == [i["id"] for i in client.get(BASE, headers=a).json()]
        assert 2 == len(services.blobs.keys("catalog/"))
        for item in a_items:
            assert 200 == client.get(path_of(item["url"])).status_code

    def test_foreign_reference_id_is_404_for_enhance(
        self, world: tuple[Client, Services, dict[str, str], dict[str, str]]
    ) -> None:
        """B cannot enhance with A's image as its reference: 404, as for an unknown id."""
        client, _, a, b = world
        (item,) = upload(client, a, 1)
        sent = [("images", ("x.png", png_bytes()))]
        response = client.post(
            "/images/v1", files=sent, data={"referenceId": item["id"]}, headers=b
        )
        assert 404 == response.status_code
