"""Settings, all from environment variables (documented in docs/operations.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from cropedly_core.errors import InvalidInput


@attrs.frozen
class Settings:
    """Everything an operator can set.

    Attributes:
        data_dir: where the SQLite database, keys and (by default) blobs live.
        host: interface ``cropedly serve`` binds to.
        port: TCP port.
        workers: uvicorn worker processes.
        public_url: absolute base of the links the API returns (set it behind a proxy).
        blob_url: fsspec URL of the blob store; default ``<data_dir>/blobs``.
        jwt_issuer: ``iss`` of issued tokens.
        jwt_audience: ``aud`` of issued tokens.
        max_file_bytes: bytes per uploaded file.
        max_pixels: pixels per image (checked from the header).
        max_files: files per request.
        max_request_bytes: bytes per request body.
        max_output_pixels: pixels of an upscaled result.
        result_ttl_hours: lifetime of result links and the stored results.
        image_workers: processes that decode and enhance images.
        queue_limit: images waiting for a worker before new requests get 503.
        seconds_per_image: time limit of one image in a worker.
        upscaler: ``onnx`` (the learned model) or ``lanczos``.
        onnx_threads: threads of one onnxruntime session.
        login_failures_per_email: failed logins per e-mail per window.
        login_failures_per_client: failed logins per client address per window.
        login_window_minutes: the throttling window.
        catalog_max_images: reference images per enterprise account.
        catalog_max_bytes: bytes of reference images per enterprise account.
        catalog_page_size: default page size of the catalog listing.
        purge_interval_minutes: how often the server deletes expired results.
        smtp_host: SMTP server for password-reset mail; empty disables mail.
        smtp_port: its port.
        smtp_sender: the From address.
        smtp_username: login, if the server needs one.
        smtp_password: password of that login.
        smtp_security: ``none``, ``starttls`` or ``tls``.
        log_level: Python logging level name.
    """

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_url: str = ""
    blob_url: str = ""
    jwt_issuer: str = "cropedly"
    jwt_audience: str = "cropedly-api"
    max_file_bytes: int = 25_000_000
    max_pixels: int = 50_000_000
    max_files: int = 10
    max_request_bytes: int = 100_000_000
    max_output_pixels: int = 100_000_000
    result_ttl_hours: float = 24.0
    image_workers: int = 2
    queue_limit: int = 32
    seconds_per_image: float = 120.0
    upscaler: str = "onnx"
    onnx_threads: int = 1
    login_failures_per_email: int = 5
    login_failures_per_client: int = 20
    login_window_minutes: int = 15
    catalog_max_images: int = 1000
    catalog_max_bytes: int = 2_000_000_000
    catalog_page_size: int = 50
    purge_interval_minutes: float = 10.0
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_sender: str = "cropedly@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: str = "none"
    log_level: str = "INFO"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "cropedly.sqlite3"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def blobs(self) -> str:
        return self.blob_url or str((self.data_dir / "blobs").resolve())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``CROPEDLY_<FIELD>`` variables; ``overrides`` win (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in attrs.fields(cls):
            raw = env.get(f"CROPEDLY_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = _convert(field.name, field.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _convert(name: str, kind: object, raw: str) -> object:
    try:
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
        if kind in ("Path", Path):
            return Path(raw)
    except ValueError:
        raise InvalidInput(f"CROPEDLY_{name.upper()}={raw!r} is not a valid value.", name) from None
    return raw
