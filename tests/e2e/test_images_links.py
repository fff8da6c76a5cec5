"""Signed result links over HTTP: bytes and headers, Range, ETag, tampering, expiry, purge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import TestClient

from cropedly.bootstrap import Services
from cropedly_adapters.memory import ManualClock
from imaging import png_bytes

PROBLEM = "https://cropedly.com/problems/"
DAY = timedelta(hours=24)


def enhance(client: TestClient, headers: dict[str, str], count: int = 1) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    """Upload ``count`` small PNGs and return the results."""
    response = client.post(
        "/images/v1",
        files=[("images", (f"{n}.png", png_bytes(16, 12))) for n in range(count)],
        data={"format": "png"},
        headers=headers,
    )
    assert 200 == response.status_code, response.text
    results: list[dict[str, Any]] = response.json()
    return results


def link_parts(url: str) -> tuple[str, str, str]:
    """``(result id, expires, sig)`` of a result link."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path.rsplit("/", 1)[-1], query["expires"][0], query["sig"][0]


def link(result_id: str, expires: str, sig: str) -> str:
    return f"/images/v1/results/{result_id}?expires={expires}&sig={sig}"


@pytest.fixture
def result(image_client: TestClient, pro_headers: dict[str, str]) -> dict[str, Any]:  # type: ignore[type-arg]
    """One enhanced PNG."""
    return enhance(image_client, pro_headers)[0]


class TestDownload:
    def test_bytes_and_headers(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
    ) -> None:
        """The link returns the bytes with Content-Type, Content-Length, ETag and Cache-Control."""
        response = image_client.get(result["url"])
        assert 200 == response.status_code
        assert "image/png" == response.headers["content-type"]
        assert str(result["size"]) == response.headers["content-length"]
        assert response.content.startswith(b"\x89PNG")
        assert response.headers["etag"].startswith('"')
        assert "private" in response.headers["cache-control"]
        assert "max-age=86400" in response.headers["cache-control"]
        assert "bytes" == response.headers["accept-ranges"]

    def test_no_token_needed(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
    ) -> None:
        """The signature is the credential: no Authorization header is needed or looked at."""
        response = image_client.get(result["url"], headers={"Authorization": "Bearer junk"})
        assert 200 == response.status_code

    def test_if_none_match_is_304(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
    ) -> None:
        """Revalidating with the ETag gets 304 and no body."""
        etag = image_client.get(result["url"]).headers["etag"]
        response = image_client.get(result["url"], headers={"If-None-Match": etag})
        assert 304 == response.status_code
        assert b"" == response.content
        assert etag == response.headers["etag"]

    def test_other_etag_gets_the_bytes(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
    ) -> None:
        """If-None-Match with another ETag is answered with the full bytes."""
        response = image_client.get(result["url"], headers={"If-None-Match": '"something-else"'})
        assert 200 == response.status_code
        assert result["size"] == len(response.content)


class TestRange:
    def test_first_ten_bytes(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
    ) -> None:
        """``bytes=0-9`` is 206 with those 10 bytes and a Content-Range."""
        full = image_client.get(result["url"]).content
        response = image_client.get(result["url"], headers={"Range": "bytes=0-9"})
        assert 206 == response.status_code
        assert full[:10] == response.content
        assert f"bytes 0-9/{len(full)}" == response.headers["content-range"]
        assert "10" == response.headers["content-length"]

    def test_suffix_range(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
    ) -> None:
        """``bytes=-5`` is the final 5 bytes."""
        full = image_client.get(result["url"]).content
        response = image_client.get(result["url"], headers={"Range": "bytes=-5"})
        assert 206 == response.status_code
        assert full[-5:] == response.content
        assert (
            f"bytes {len(full) - 5}-{len(full) - 1}/{len(full)}"
            == (response.headers["content-range"])
        )

    def test_open_ended_and_overlong_ranges_stop_at_the_end(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
    ) -> None:
        """``bytes=10-`` and ``bytes=10-999999`` both return everything from byte 10."""
        full = image_client.get(result["url"]).content
        for wanted in ("bytes=10-", "bytes=10-999999"):
            response = image_client.get(result["url"], headers={"Range": wanted})
            assert 206 == response.status_code
            assert full[10:] == response.content

    @pytest.mark.parametrize("wanted", ["bytes={size}-", "bytes={size}-{more}", "bytes=-0"])
    def test_unsatisfiable_range_is_416(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
        wanted: str,
    ) -> None:
        """A range starting at or past the end is 416 with ``Content-Range: bytes */size``."""
        size = result["size"]
        response = image_client.get(
            result["url"], headers={"Range": wanted.format(size=size, more=size + 10)}
        )
        assert 416 == response.status_code
        assert f"bytes */{size}" == response.headers["content-range"]


class TestTampering:
    def test_tampered_signature_is_403(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
    ) -> None:
        """Changing one character of the signature is 403 ``link-invalid``."""
        result_id, expires, sig = link_parts(result["url"])
        forged = ("A" if sig[0] != "A" else "B") + sig[1:]
        response = image_client.get(link(result_id, expires, forged))
        assert 403 == response.status_code
        assert PROBLEM + "link-invalid" == response.json()["type"]

    def test_other_id_with_the_same_signature_is_403(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """A valid signature does not open another (existing) result."""
        first, second = enhance(image_client, pro_headers, count=2)
        _, expires, sig = link_parts(first["url"])
        response = image_client.get(link(second["id"], expires, sig))
        assert 403 == response.status_code

    def test_stretched_expiry_is_403(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
    ) -> None:
        """Moving ``expires`` later with the same signature is 403."""
        result_id, expires, sig = link_parts(result["url"])
        response = image_client.get(link(result_id, str(int(expires) + 3600), sig))
        assert 403 == response.status_code

    @pytest.mark.parametrize(
        ("query", "status"),
        [
            ("", 422),
            ("?expires=123", 422),
            ("?sig=abc", 422),
            ("?expires=soon&sig=abc", 403),
            ("?expires=&sig=", 403),
            ("?expires=" + "9" * 5000 + "&sig=abc", 403),
        ],
    )
    def test_missing_or_malformed_parameters_are_4xx(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        result: dict[str, Any],
        query: str,
        status: int,
    ) -> None:
        """Missing ``expires``/``sig`` is 422, a malformed link 403: never the bytes or a 500."""
        response = image_client.get(f"/images/v1/results/{result['id']}{query}")
        assert status == response.status_code


class TestExpiryAndPurge:
    def test_expired_link_is_403(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        clock: ManualClock,
        result: dict[str, Any],
    ) -> None:
        """Past 24 hours the link is refused with 403."""
        clock.advance(DAY + timedelta(seconds=1))
        response = image_client.get(result["url"])
        assert 403 == response.status_code
        assert PROBLEM + "link-invalid" == response.json()["type"]

    def test_link_works_until_just_before_expiry(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        clock: ManualClock,
        result: dict[str, Any],
    ) -> None:
        """One second before the 24 hours end the link still works, with a short max-age."""
        clock.advance(DAY - timedelta(seconds=1))
        response = image_client.get(result["url"])
        assert 200 == response.status_code
        assert "max-age=1," in response.headers["cache-control"]

    def test_expired_result_is_404_even_before_the_purge(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        clock: ManualClock,
        result: dict[str, Any],
    ) -> None:
        """A freshly signed link to an expired (not yet purged) result is 404."""
        clock.advance(DAY)
        stamp, sig = image_services.links.sign("result", result["id"], clock.now() + DAY)
        response = image_client.get(link(result["id"], str(stamp), sig))
        assert 404 == response.status_code

    def test_purge_deletes_expired_results_and_their_bytes(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        pro_headers: dict[str, str],
        clock: ManualClock,
    ) -> None:
        """``purge_expired`` removes expired metadata and blobs and keeps live ones."""
        old = enhance(image_client, pro_headers, count=2)
        clock.advance(timedelta(hours=12))
        new = enhance(image_client, pro_headers)[0]
        clock.advance(timedelta(hours=12))
        assert 2 == image_services.images.purge_expired(batch=1)
        assert 0 == image_services.images.purge_expired()
        assert [None, None] == [image_services.images.results.get(r["id"]) for r in old]
        assert 1 == len(image_services.blobs.keys())
        assert 200 == image_client.get(new["url"]).status_code

    def test_valid_signature_for_a_purged_result_is_404(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        clock: ManualClock,
        result: dict[str, Any],
    ) -> None:
        """Once purged, a result is 404 even through a link signed for the future."""
        clock.advance(DAY)
        assert 1 == image_services.images.purge_expired()
        assert [] == list(image_services.blobs.keys())
        stamp, sig = image_services.links.sign("result", result["id"], clock.now() + DAY)
        response = image_client.get(link(result["id"], str(stamp), sig))
        assert 404 == response.status_code
        assert PROBLEM + "not-found" == response.json()["type"]
