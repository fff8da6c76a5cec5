"""Results on S3 (moto's server): enhanced, stored, and streamed through the app's signed links.

The app streams S3 objects itself rather than redirecting to presigned S3 URLs, so
the link semantics of the API (Range, ETag, 304, expiry, 404 once purged) are the
same on every store (docs/operations.md, "S3 storage").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from litestar.testing import TestClient

from cropedly.bootstrap import Services, build_services
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_core.users import Plan
from engines import S3Target
from imaging import bearer, png_bytes


def s3_settings(tmp_path: Path, target: S3Target) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        upscaler="lanczos",
        blob_url=f"s3://{target.bucket}/cropedly",
        s3_endpoint_url=target.endpoint_url,
        s3_region=target.region,
        s3_access_key_id=target.access_key_id,
        s3_secret_access_key=target.secret_access_key,
    )


def test_results_live_on_s3_and_links_keep_their_semantics(
    tmp_path: Path, s3_target: S3Target
) -> None:
    settings = s3_settings(tmp_path, s3_target)
    services: Services = build_services(settings, start_workers=False)
    other: Services = build_services(settings, start_workers=False)  # another process
    with TestClient(app=create_app(services)) as client:
        headers = bearer(services, "pro@example.com", Plan.PRO)
        response = client.post(
            "/images/v1",
            files=[("images", ("a.png", png_bytes(16, 12)))],
            data={"format": "png"},
            headers=headers,
        )
        assert 200 == response.status_code, response.text
        result: dict[str, Any] = response.json()[0]

        objects = [str(p) for p in services.blobs.fs.find(s3_target.bucket)]  # type: ignore[attr-defined]
        assert 1 == len(objects)
        assert objects[0].startswith(f"{s3_target.bucket}/cropedly/results/")

        whole = client.get(result["url"])
        assert 200 == whole.status_code
        assert result["size"] == len(whole.content)
        etag = whole.headers["etag"]

        part = client.get(result["url"], headers={"Range": "bytes=0-9"})
        assert 206 == part.status_code
        assert whole.content[:10] == part.content
        assert f"bytes 0-9/{result['size']}" == part.headers["content-range"]

        assert 304 == client.get(result["url"], headers={"If-None-Match": etag}).status_code

    with TestClient(app=create_app(other)) as elsewhere:
        again = elsewhere.get(result["url"])
        assert 200 == again.status_code
        assert whole.content == again.content


def test_readiness_checks_the_bucket_and_redis(
    tmp_path: Path, s3_target: S3Target, redis_url: str
) -> None:
    """With S3 and Redis configured, /health/ready's list names both, and both pass."""
    settings = attrs.evolve(s3_settings(tmp_path, s3_target), redis_url=redis_url)
    services = build_services(settings, start_workers=False)
    try:
        checks = dict(services.readiness)
        assert {"blobs", "redis"} <= set(checks)
        checks["blobs"]()
        checks["redis"]()
        missing = attrs.evolve(settings, blob_url="s3://no-such-bucket-here/x")
        gone = build_services(missing, start_workers=False)
        try:
            with pytest.raises(FileNotFoundError):
                dict(gone.readiness)["blobs"]()
        finally:
            gone.close()
    finally:
        services.close()
