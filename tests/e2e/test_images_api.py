"""``POST /images/v1`` over HTTP: auth and plans, options, responses, all-or-nothing, limits."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from PIL import Image

from cropedly.bootstrap import Services
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_adapters.memory import ManualClock
from cropedly_core.errors import Overloaded
from cropedly_core.images.model import EnhanceOptions
from cropedly_core.images.service import JobResult
from cropedly_core.users import Plan
from doubles import in_memory_services
from imaging import bearer, png_bytes

PROBLEM = "https://cropedly.com/problems/"
# What each file of shared/testdata/hostile gets (422 when not listed): bombs are too
# large (413), the PSD is a format we do not take (415), the rest is corrupt (422).
HOSTILE_STATUS = {
    "decompression_bomb.gif": 413,
    "decompression_bomb_extents.gif": 413,
    "png_decompression_dos.png": 413,
    "timeout-1ee28a249896e05b83840ae8140622de8e648ba9.psd": 415,
}
URL = "/images/v1"
# Listed at collection time so each file is its own test; the ``testdata``
# fixture fails the test loudly when the folder is missing.
TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"


def _names(kind: str) -> list[str]:
    folder = TESTDATA / kind
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else ["<missing>"]


def files(*items: tuple[str, bytes], field: str = "images") -> list[tuple[str, Any]]:
    """A multipart ``files=`` argument with every item under ``field``."""
    return [(field, (name, data)) for name, data in items]


def stored_nothing(services: Services) -> bool:
    """No blob and no result metadata exist (looked up far past any expiry)."""
    far = services.clock.now() + timedelta(days=3650)
    return [] == list(services.blobs.keys()) and [] == services.images.results.expired(far, 10)


@pytest.fixture
def make_client() -> Iterator[Callable[..., tuple[TestClient, Services, dict[str, str]]]]:  # type: ignore[type-arg]
    """Builds a client on in-memory services with the given ``Settings`` fields, and a Pro login."""
    opened: list[TestClient] = []  # type: ignore[type-arg]

    def make(**fields: Any) -> tuple[TestClient, Services, dict[str, str]]:  # type: ignore[type-arg]
        services = in_memory_services(Settings(upscaler="lanczos", **fields), clock=ManualClock())
        client = TestClient(app=create_app(services)).__enter__()
        opened.append(client)
        return client, services, bearer(services, "pro@example.com", Plan.PRO)

    yield make
    for client in opened:
        client.__exit__(None, None, None)


class TestAuthAndPlans:
    def test_no_token_is_401(self, image_client: TestClient) -> None:  # type: ignore[type-arg]
        """Without a token the answer is 401 with a Bearer challenge."""
        response = image_client.post(URL, files=files(("a.png", png_bytes())))
        assert 401 == response.status_code
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_invalid_token_is_401(self, image_client: TestClient) -> None:  # type: ignore[type-arg]
        """A token the server did not issue is refused with 401."""
        response = image_client.post(
            URL, files=files(("a.png", png_bytes())), headers={"Authorization": "Bearer nope"}
        )
        assert 401 == response.status_code
        assert PROBLEM + "invalid-token" == response.json()["type"]

    def test_free_plan_is_403_pro_required(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
    ) -> None:
        """A free account gets 403 ``pro-plan-required`` naming the plan, and nothing is stored."""
        headers = bearer(image_services, "free@example.com", Plan.FREE)
        response = image_client.post(URL, files=files(("a.png", png_bytes())), headers=headers)
        assert 403 == response.status_code
        assert PROBLEM + "pro-plan-required" == response.json()["type"]
        assert "pro" == response.json()["requiredPlan"]
        assert stored_nothing(image_services)

    def test_browser_call_on_pro_needs_enterprise(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """A Pro call carrying an Origin is refused: browsers need the enterprise plan."""
        response = image_client.post(
            URL,
            files=files(("a.png", png_bytes())),
            headers={**pro_headers, "Origin": "https://shop.example"},
        )
        assert 403 == response.status_code
        assert "enterprise" == response.json()["requiredPlan"]

    def test_browser_call_from_unregistered_origin_is_403(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
    ) -> None:
        """An enterprise account calling from an origin it did not register gets 403."""
        headers = bearer(image_services, "ent@example.com", Plan.ENTERPRISE)
        image_services.accounts.set_origins("ent@example.com", frozenset({"https://shop.example"}))
        response = image_client.post(
            URL,
            files=files(("a.png", png_bytes())),
            headers={**headers, "Origin": "https://evil.example"},
        )
        assert 403 == response.status_code
        assert PROBLEM + "origin-not-registered" == response.json()["type"]

    def test_browser_call_from_registered_origin_is_200(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
    ) -> None:
        """Enterprise plus a registered origin (any letter case) may call from a browser."""
        headers = bearer(image_services, "ent@example.com", Plan.ENTERPRISE)
        image_services.accounts.set_origins("ent@example.com", frozenset({"https://shop.example"}))
        response = image_client.post(
            URL,
            files=files(("a.png", png_bytes())),
            headers={**headers, "Origin": "https://Shop.Example"},
        )
        assert 200 == response.status_code

    def test_enterprise_server_call_is_200(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
    ) -> None:
        """Enterprise includes Pro: a server-side call (no Origin) works without origins."""
        headers = bearer(image_services, "ent@example.com", Plan.ENTERPRISE)
        response = image_client.post(URL, files=files(("a.png", png_bytes())), headers=headers)
        assert 200 == response.status_code


class TestOptions:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("upscale", "3"),
            ("upscale", "two"),
            ("upscale", "0"),
            ("adjust", "max"),
            ("restore", "yes"),
            ("format", "gif"),
            ("format", "jpg2000"),
            ("quality", "0"),
            ("quality", "101"),
            ("quality", "high"),
            ("quality", "-5"),
            ("quality", "9.5"),
        ],
    )
    def test_invalid_option_is_422_naming_the_field(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        pro_headers: dict[str, str],
        field: str,
        value: str,
    ) -> None:
        """An out-of-range option is a 422 whose ``errors`` name the field; nothing is stored."""
        response = image_client.post(
            URL, files=files(("a.png", png_bytes())), data={field: value}, headers=pro_headers
        )
        assert 422 == response.status_code
        assert [field] == [e["field"] for e in response.json()["errors"]]
        assert stored_nothing(image_services)

    @pytest.mark.parametrize(
        ("fmt", "mime"),
        [("jpeg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp")],
    )
    def test_format_decides_the_mime_type(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
        fmt: str,
        mime: str,
    ) -> None:
        """``format`` picks the output's MIME type whatever the input was."""
        response = image_client.post(
            URL,
            files=files(("a.png", png_bytes())),
            data={"format": fmt, "quality": "80"},
            headers=pro_headers,
        )
        assert 200 == response.status_code
        assert mime == response.json()[0]["mimeType"]

    @pytest.mark.parametrize("factor", [1, 2, 4])
    def test_upscale_multiplies_width_and_height(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
        factor: int,
    ) -> None:
        """``upscale=n`` makes a result n times as wide and n times as high."""
        response = image_client.post(
            URL,
            files=files(("a.png", png_bytes(10, 7))),
            data={"upscale": str(factor), "adjust": "none"},
            headers=pro_headers,
        )
        body = response.json()[0]
        assert (10 * factor, 7 * factor) == (body["width"], body["height"])

    def test_images_brackets_field_is_accepted(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """Browser form libraries send ``images[]``; those files count like ``images``."""
        response = image_client.post(
            URL,
            files=files(("a.png", png_bytes()), ("b.png", png_bytes()), field="images[]"),
            headers=pro_headers,
        )
        assert 200 == response.status_code
        assert ["a.png", "b.png"] == [r["originalName"] for r in response.json()]

    def test_other_file_field_is_422(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """A file under an unknown field name is refused, naming that field."""
        response = image_client.post(
            URL, files=files(("a.png", png_bytes()), field="photo"), headers=pro_headers
        )
        assert 422 == response.status_code
        assert ["photo"] == [e["field"] for e in response.json()["errors"]]

    def test_no_file_is_422(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """A form without any file is a 422 naming ``images``."""
        response = image_client.post(URL, data={"upscale": "2"}, headers=pro_headers)
        assert 422 == response.status_code
        assert ["images"] == [e["field"] for e in response.json()["errors"]]

    def test_text_under_images_is_422(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """``images`` sent as a plain text field (not a file) is a 422 naming ``images``."""
        response = image_client.post(URL, data={"images": "hello"}, headers=pro_headers)
        assert 422 == response.status_code
        assert ["images"] == [e["field"] for e in response.json()["errors"]]


class TestResponse:
    def test_results_in_upload_order_with_every_field(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        pro_headers: dict[str, str],
    ) -> None:
        """One object per file, in upload order, with the documented fields and a 24 h expiry."""
        response = image_client.post(
            URL,
            files=files(
                ("first.png", png_bytes(5, 4)),
                ("second.jpg", png_bytes(9, 3, fmt="JPEG")),
                ("third.png", png_bytes(4, 8, mode="RGBA")),
            ),
            headers=pro_headers,
        )
        assert 200 == response.status_code
        body = response.json()
        assert ["first.png", "second.jpg", "third.png"] == [r["originalName"] for r in body]
        assert [(5, 4), (9, 3), (4, 8)] == [(r["width"], r["height"]) for r in body]
        assert {
            "id",
            "url",
            "mimeType",
            "size",
            "width",
            "height",
            "originalName",
            "expiresAt",
        } == set(body[0])
        assert 3 == len({r["id"] for r in body})
        expires = (image_services.clock.now() + timedelta(hours=24)).isoformat()
        assert {expires.replace("+00:00", "Z")} == {r["expiresAt"] for r in body}

    def test_size_and_mime_type_match_the_download(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """``size`` is the byte length the url returns, ``mimeType`` its Content-Type."""
        response = image_client.post(
            URL,
            files=files(("a.png", png_bytes(12, 9)), ("b.jpg", png_bytes(7, 7, fmt="JPEG"))),
            headers=pro_headers,
        )
        for result in response.json():
            download = image_client.get(result["url"])
            assert 200 == download.status_code
            assert result["size"] == len(download.content)
            assert result["mimeType"] == download.headers["content-type"]
            with Image.open(io.BytesIO(download.content)) as image:
                assert (result["width"], result["height"]) == image.size

    def test_original_name_loses_its_path(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """A client-sent path in the file name is dropped from ``originalName``."""
        response = image_client.post(
            URL, files=files(("../../etc\\evil.png", png_bytes())), headers=pro_headers
        )
        assert "evil.png" == response.json()[0]["originalName"]


class TestAllOrNothing:
    def test_one_hostile_file_refuses_the_batch(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        pro_headers: dict[str, str],
        testdata: Path,
    ) -> None:
        """Valid files next to a hostile one: one problem naming only that file, nothing stored."""
        hostile = (testdata / "hostile" / "truncated_jpeg.jpg").read_bytes()
        response = image_client.post(
            URL,
            files=files(
                ("good.png", png_bytes()),
                ("bad.jpg", hostile),
                ("good2.png", png_bytes()),
            ),
            headers=pro_headers,
        )
        assert 422 == response.status_code
        assert response.headers["content-type"].startswith("application/problem+json")
        assert ["bad.jpg"] == [e["file"] for e in response.json()["errors"]]
        assert stored_nothing(image_services)

    def test_every_refused_file_is_named(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        pro_headers: dict[str, str],
    ) -> None:
        """Several refused files with different reasons: all named, status 400 for the mix."""
        response = image_client.post(
            URL,
            files=files(
                ("ok.png", png_bytes()),
                ("notes.txt", b"just some text, not an image\n"),
                ("cut.jpg", png_bytes(64, 64, fmt="JPEG")[:300]),
            ),
            headers=pro_headers,
        )
        body = response.json()
        assert 400 == response.status_code  # 415 and 422 together: the batch answers 400
        assert {"notes.txt": "unsupported-format", "cut.jpg": "corrupt-image"} == {
            e["file"]: e["type"].rsplit("/", 1)[1] for e in body["errors"]
        }
        assert stored_nothing(image_services)

    def test_storage_failure_leaves_nothing(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        pro_headers: dict[str, str],
    ) -> None:
        """When the blob store fails mid-batch, the blobs already written are removed."""
        real_put = image_services.blobs.put
        calls: list[str] = []

        def failing_put(key: str, data: bytes) -> None:
            calls.append(key)
            if len(calls) == 2:
                raise OSError("disk full")
            real_put(key, data)

        image_services.blobs.put = failing_put  # type: ignore[method-assign]
        response = image_client.post(
            URL,
            files=files(("a.png", png_bytes()), ("b.png", png_bytes()), ("c.png", png_bytes())),
            headers=pro_headers,
        )
        assert 500 == response.status_code
        assert PROBLEM + "internal-error" == response.json()["type"]
        assert stored_nothing(image_services)


class TestTestdata:
    @pytest.mark.parametrize("name", _names("valid"))
    def test_valid_file_is_enhanced(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
        testdata: Path,
        name: str,
    ) -> None:
        """Every customer-like file in ``valid/`` is enhanced with 200."""
        data = (testdata / "valid" / name).read_bytes()
        response = image_client.post(URL, files=files((name, data)), headers=pro_headers)
        assert 200 == response.status_code, response.text
        assert [name] == [r["originalName"] for r in response.json()]

    @pytest.mark.parametrize("name", _names("hostile"))
    def test_hostile_file_is_4xx_and_stores_nothing(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        pro_headers: dict[str, str],
        testdata: Path,
        name: str,
    ) -> None:
        """Every decoder-hostile file in ``hostile/`` gets a 4xx problem naming it; nothing is stored."""
        data = (testdata / "hostile" / name).read_bytes()
        response = image_client.post(URL, files=files((name, data)), headers=pro_headers)
        assert HOSTILE_STATUS.get(name, 422) == response.status_code, response.text
        assert [name] == [e["file"] for e in response.json()["errors"]]
        assert stored_nothing(image_services)


class TestLimits:
    def test_too_many_files_is_413(self, make_client: Callable[..., Any]) -> None:
        """More files than ``max_files`` is 413 naming the surplus files; nothing is stored."""
        client, services, headers = make_client(max_files=2)
        response = client.post(
            URL,
            files=files(("a.png", png_bytes()), ("b.png", png_bytes()), ("c.png", png_bytes())),
            headers=headers,
        )
        assert 413 == response.status_code
        assert ["c.png"] == [e["file"] for e in response.json()["errors"]]
        assert stored_nothing(services)

    def test_file_over_max_file_bytes_is_413(self, make_client: Callable[..., Any]) -> None:
        """A file one byte over ``max_file_bytes`` is 413 ``file-too-large``."""
        small = png_bytes(4, 4)
        client, services, headers = make_client(max_file_bytes=len(small))
        response = client.post(
            URL,
            files=files(("ok.png", small), ("big.png", small + b"\0")),
            headers=headers,
        )
        assert 413 == response.status_code
        assert [("big.png", PROBLEM + "file-too-large")] == [
            (e["file"], e["type"]) for e in response.json()["errors"]
        ]
        assert stored_nothing(services)

    def test_empty_file_is_422(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """An empty file is 422 ``empty-file``."""
        response = image_client.post(URL, files=files(("e.png", b"")), headers=pro_headers)
        assert 422 == response.status_code
        assert [PROBLEM + "empty-file"] == [e["type"] for e in response.json()["errors"]]

    def test_text_file_is_415(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        pro_headers: dict[str, str],
    ) -> None:
        """A text file (even named .png) is 415 ``unsupported-format``."""
        response = image_client.post(
            URL, files=files(("fake.png", b"hello, I am not a picture\n" * 4)), headers=pro_headers
        )
        assert 415 == response.status_code
        assert [PROBLEM + "unsupported-format"] == [e["type"] for e in response.json()["errors"]]
        assert stored_nothing(image_services)

    def test_oversized_body_is_413_problem(self, make_client: Callable[..., Any]) -> None:
        """A body over ``max_request_bytes`` is a 413 problem, not a 500."""
        client, services, headers = make_client(max_request_bytes=4_000)
        response = client.post(URL, files=files(("a.png", b"\0" * 8_000)), headers=headers)
        assert 413 == response.status_code
        assert response.headers["content-type"].startswith("application/problem+json")
        assert PROBLEM + "request-too-large" == response.json()["type"]
        assert stored_nothing(services)

    def test_body_within_the_limit_is_accepted(self, make_client: Callable[..., Any]) -> None:
        """With a small ``max_request_bytes`` a request below it is still a 200."""
        client, _, headers = make_client(max_request_bytes=4_000)
        response = client.post(URL, files=files(("a.png", png_bytes())), headers=headers)
        assert 200 == response.status_code

    @pytest.mark.parametrize(
        ("content_type", "body", "status"),
        [
            ("application/json", b'{"images": []}', 415),
            ("multipart/form-data; boundary=xyz", b"--xyz\r\nbroken", 400),
            ("multipart/form-data", b"no boundary at all", 400),
            ("text/plain", b"\xff\xfe\x00garbage", 415),
        ],
    )
    def test_malformed_body_is_4xx_never_500(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
        content_type: str,
        body: bytes,
        status: int,
    ) -> None:
        """Not a form is 415, a broken multipart form 400: a problem, never a 500."""
        response = image_client.post(
            URL, content=body, headers={**pro_headers, "Content-Type": content_type}
        )
        assert status == response.status_code, response.text


class OverloadedWorkers:
    """``ImageWorkers`` whose queue is always full: no batch is admitted."""

    def reserve(self, count: int) -> AbstractContextManager[OverloadedWorkers]:
        raise Overloaded(retry_after=7)

    async def run(self, data: bytes, options: EnhanceOptions) -> JobResult:
        raise AssertionError("no job may run when the batch was not admitted")


def test_overloaded_workers_give_503_with_retry_after(
    image_client: TestClient,  # type: ignore[type-arg]
    image_services: Services,
    pro_headers: dict[str, str],
) -> None:
    """When the workers' queue is full the answer is 503 with Retry-After; nothing is stored."""
    image_services.images.workers = OverloadedWorkers()
    response = image_client.post(URL, files=files(("a.png", png_bytes())), headers=pro_headers)
    assert 503 == response.status_code
    assert "7" == response.headers["retry-after"]
    assert PROBLEM + "overloaded" == response.json()["type"]
    assert stored_nothing(image_services)


# ------------------------------------------------------------------------ property

FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


@pytest.fixture(scope="module")
def property_client() -> Iterator[tuple[TestClient, dict[str, str]]]:  # type: ignore[type-arg]
    """One client for every example of the property (building services per example is slow)."""
    services = in_memory_services(Settings(upscaler="lanczos"), clock=ManualClock())
    headers = bearer(services, "prop@example.com", Plan.PRO)
    with TestClient(app=create_app(services)) as client:
        yield client, headers


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(["RGB", "RGBA", "L"]),
    width=st.integers(1, 48),
    height=st.integers(1, 48),
    upscale=st.sampled_from([1, 2, 4]),
    fmt=st.sampled_from(sorted(FORMATS)),
    adjust=st.sampled_from(["auto", "none"]),
    colour=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
)
def test_any_small_image_is_enhanced_as_asked(
    property_client: tuple[TestClient, dict[str, str]],  # type: ignore[type-arg]
    mode: str,
    width: int,
    height: int,
    upscale: int,
    fmt: str,
    adjust: str,
    colour: tuple[int, int, int],
) -> None:
    """Any small RGB/RGBA/L image comes back 200 at n times its size in the requested format."""
    client, headers = property_client
    image = Image.new("RGB", (width, height), colour)
    image.putpixel((0, 0), (255 - colour[0], 0, colour[2]))
    out = io.BytesIO()
    image.convert(mode).save(out, format="PNG")
    response = client.post(
        URL,
        files=files(("p.png", out.getvalue())),
        data={"upscale": str(upscale), "format": fmt, "adjust": adjust},
        headers=headers,
    )
    assert 200 == response.status_code, response.text
    body = response.json()[0]
    assert (width * upscale, height * upscale) == (body["width"], body["height"])
    assert FORMATS[fmt] == body["mimeType"]
