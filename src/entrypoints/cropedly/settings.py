"""Settings, all from environment variables (documented in docs/operations.md).

Every variable is parsed and checked when the process starts: a bad value stops
it with one line naming the variable and what it accepts (``SettingsError``; the
CLI exits with status 2), instead of a server that fails on every request later.
cattrs turns the strings into typed values; attrs validators check the ranges.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs
import cattrs

from cropedly_core.images.model import ImageLimits

PREFIX = "CROPEDLY_"
# The core's limits are the one source of the image defaults; settings only expose them.
_LIMITS = ImageLimits()


class SettingsError(ValueError):
    """A setting has a value the service cannot run with; the message is one line."""


class UpscalerKind(enum.StrEnum):
    ONNX = "onnx"
    LANCZOS = "lanczos"


class ToneKind(enum.StrEnum):
    """Which ``adjust=auto`` step runs: the hand-tuned one, or the learned tone model."""

    CLASSIC = "classic"
    LEARNED = "learned"


class SmtpSecurity(enum.StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class MailerKind(enum.StrEnum):
    AUTO = "auto"  # SMTP when CROPEDLY_SMTP_HOST is set, else the outbox folder
    OUTBOX = "outbox"
    SMTP = "smtp"
    OFF = "off"


class QueueKind(enum.StrEnum):
    """Where images are processed: this server's own worker processes, or a Redis queue."""

    LOCAL = "local"
    REDIS = "redis"


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LogFormat(enum.StrEnum):
    AUTO = "auto"  # text on a terminal, JSON lines otherwise
    TEXT = "text"
    JSON = "json"


class Switch(enum.StrEnum):
    ON = "on"
    OFF = "off"


def _variable(name: str) -> str:
    return f"{PREFIX}{name.upper()}"


def _at_least(
    low: float, high: float | None = None
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value < low or (high is not None and value > high):
            bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise SettingsError(f"{_variable(attribute.name)}={value!r}: must be {bounds}.")

    return check


E = TypeVar("E", bound=enum.StrEnum)


def _member(kind: type[E], name: str, value: object) -> E:
    """The member whose value matches case-insensitively, or one line naming the choices."""
    if isinstance(value, kind):
        return value
    text = str(value).strip()
    for member in kind:
        if text.lower() == member.value.lower():
            return member
    allowed = ", ".join(m.value for m in kind)
    raise SettingsError(f"{_variable(name)}={value!r}: must be one of {allowed}.")


def _upscaler(value: object) -> UpscalerKind:
    return _member(UpscalerKind, "upscaler", value)


def _tone(value: object) -> ToneKind:
    return _member(ToneKind, "tone", value)


def _smtp_security(value: object) -> SmtpSecurity:
    return _member(SmtpSecurity, "smtp_security", value)


def _mailer(value: object) -> MailerKind:
    return _member(MailerKind, "mailer", value)


def _image_queue(value: object) -> QueueKind:
    return _member(QueueKind, "image_queue", value)


def _flag(name: str) -> Callable[[object], bool]:
    """``true``/``false`` (also 1/0, yes/no, on/off), case-insensitive."""

    def convert(value: object) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{_variable(name)}={value!r}: must be true or false.")

    return convert


def _webhook_allow_private(value: object) -> bool:
    return _flag("webhook_allow_private")(value)


def _log_level(value: object) -> LogLevel:
    return _member(LogLevel, "log_level", value)


def _log_format(value: object) -> LogFormat:
    return _member(LogFormat, "log_format", value)


def _metrics(value: object) -> Switch:
    return _member(Switch, "metrics", value)


def _url(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value and not value.startswith(("http://", "https://")):
        raise SettingsError(f"{_variable(attribute.name)}={value!r}: must start with http(s)://.")


def _redis_url(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        # The value is not echoed: it may carry a password.
        raise SettingsError(
            f"{_variable(attribute.name)}: must start with redis://, rediss:// or unix://."
        )


def _database_url(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    # The value is never echoed: it may hold the database password.
    if value and urlsplit(value).scheme not in ("postgresql", "postgres"):
        raise SettingsError(
            f"{_variable(attribute.name)}: must be empty (the embedded SQLite database) "
            "or a postgresql://user:password@host:port/database URL."
        )


def redact_url(url: str) -> str:
    """A database URL for logs: scheme, user, host, port and path; never the password."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a non-numeric port: libpq will say so when connecting
        port = ""
    return f"{parts.scheme}://{user}{parts.hostname or ''}{port}{parts.path}"


POSITIVE = _at_least(1)


@attrs.frozen
class Settings:
    """Everything an operator can set.

    Attributes:
        data_dir: where the SQLite database, keys and (by default) blobs live.
        database_url: empty for the embedded SQLite database under ``data_dir``, or a
            ``postgresql://`` URL (never logged whole, not in repr).
        database_pool_size: connections each process keeps to PostgreSQL at most.
        database_pool_timeout: seconds a request waits for a free connection.
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
        image_queue: ``local`` (this server's worker processes) or ``redis`` (a Celery
            queue on ``redis_url`` served by ``cropedly worker`` processes).
        queue_wait_seconds: with ``redis``, how long an image may wait for a worker
            before the request gets 503.
        webhook_allow_private: let ``callbackUrl`` reach loopback, private and other
            non-public addresses (a test or an internal deployment; off by default).
        upscaler: ``onnx`` (the learned models) or ``lanczos``.
        tone: ``classic`` or ``learned`` (with ``onnx``): the ``adjust=auto`` step.
        onnx_threads: threads of one onnxruntime session.
        login_failures_per_email: failed logins per e-mail per window.
        login_failures_per_client: failed logins per client address per window.
        login_window_minutes: the throttling window.
        registrations_per_client: sign-ups per client address per window.
        catalog_max_images: reference images per enterprise account.
        catalog_max_bytes: bytes of reference images per enterprise account.
        catalog_page_size: default page size of the catalog listing.
        domains_per_account: browser origins one Enterprise account may register.
        free_requests_per_minute: authenticated requests per minute of a Free account.
        pro_requests_per_minute: the same for Pro.
        enterprise_requests_per_minute: the same for Enterprise.
        pro_images_per_month: images a Pro account may enhance per calendar month (UTC).
        enterprise_images_per_month: the same for Enterprise.
        purge_interval_minutes: how often the server deletes expired results.
        sweep_horizon_minutes: at start, ``serve`` removes blobs without a record and
            unfinished writes older than this (left by a crash); 0 turns the sweep off.
        shutdown_seconds: on SIGTERM, how long requests in flight may take to finish
            before they are cancelled.
        mailer: ``auto`` (SMTP when ``smtp_host`` is set, else the outbox folder),
            ``outbox``, ``smtp`` or ``off``.
        smtp_host: SMTP server for password-reset mail.
        smtp_port: its port.
        smtp_sender: the From address.
        smtp_username: login, if the server needs one.
        smtp_password: password of that login.
        smtp_security: ``none``, ``starttls`` or ``tls``.
        log_level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
        log_format: ``auto`` (text on a terminal, else JSON lines), ``text`` or ``json``.
        metrics: ``on`` serves Prometheus metrics at ``/metrics``; ``off`` removes the route.
        google_issuer: issuer URL of the OpenID provider behind "Sign in with Google"
            (discovery at ``<issuer>/.well-known/openid-configuration``).
        google_client_id: the OAuth client id; empty turns Google sign-in off.
        google_client_secret: the OAuth client secret (never logged, not in repr).
        redis_url: ``redis://`` or ``rediss://`` URL of the Redis that holds throttles,
            rate limits and usage counters shared by every process, and the image queue
            with ``image_queue=redis``; empty keeps limits in each process (not in repr:
            the URL may carry a password).
        s3_endpoint_url: endpoint of an S3-compatible store when ``blob_url`` is ``s3://``;
            empty means AWS's.
        s3_region: the S3 region; empty leaves it to the AWS configuration.
        s3_access_key_id: S3 credentials; empty uses the standard AWS chain
            (``AWS_ACCESS_KEY_ID``, ``~/.aws/credentials``, instance roles).
        s3_secret_access_key: the secret of that key (never logged, not in repr).
    """

    data_dir: Path = attrs.field(default=Path("data"), converter=Path)
    database_url: str = attrs.field(default="", validator=_database_url, repr=False)
    database_pool_size: int = attrs.field(default=10, validator=_at_least(1, 1000))
    database_pool_timeout: float = attrs.field(default=10.0, validator=_at_least(0.1, 600))
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, validator=_at_least(1, 65535))
    workers: int = attrs.field(default=1, validator=_at_least(1, 64))
    public_url: str = attrs.field(default="", validator=_url)
    blob_url: str = ""
    jwt_issuer: str = "cropedly"
    jwt_audience: str = "cropedly-api"
    max_file_bytes: int = attrs.field(default=_LIMITS.max_file_bytes, validator=POSITIVE)
    max_pixels: int = attrs.field(default=_LIMITS.max_pixels, validator=POSITIVE)
    max_files: int = attrs.field(default=_LIMITS.max_files, validator=_at_least(1, 1000))
    max_request_bytes: int = attrs.field(default=100_000_000, validator=POSITIVE)
    max_output_pixels: int = attrs.field(default=_LIMITS.max_output_pixels, validator=POSITIVE)
    result_ttl_hours: float = attrs.field(default=24.0, validator=_at_least(0.01, 24 * 365))
    image_workers: int = attrs.field(default=2, validator=_at_least(1, 256))
    queue_limit: int = attrs.field(default=32, validator=_at_least(0))
    seconds_per_image: float = attrs.field(
        default=_LIMITS.seconds_per_image, validator=_at_least(1, 3600)
    )
    image_queue: QueueKind = attrs.field(default=QueueKind.LOCAL, converter=_image_queue)
    queue_wait_seconds: float = attrs.field(default=120.0, validator=_at_least(1, 3600))
    webhook_allow_private: bool = attrs.field(default=False, converter=_webhook_allow_private)
    upscaler: UpscalerKind = attrs.field(default=UpscalerKind.ONNX, converter=_upscaler)
    # Classic by default: the learned tone model still moves photos that need no
    # correction (3.5 Delta E, docs/enhancement.md), the classic step does not.
    tone: ToneKind = attrs.field(default=ToneKind.CLASSIC, converter=_tone)
    onnx_threads: int = attrs.field(default=1, validator=_at_least(1, 64))
    login_failures_per_email: int = attrs.field(default=5, validator=POSITIVE)
    login_failures_per_client: int = attrs.field(default=20, validator=POSITIVE)
    login_window_minutes: int = attrs.field(default=15, validator=POSITIVE)
    registrations_per_client: int = attrs.field(default=10, validator=POSITIVE)
    catalog_max_images: int = attrs.field(default=1000, validator=_at_least(0))
    catalog_max_bytes: int = attrs.field(default=2_000_000_000, validator=_at_least(0))
    catalog_page_size: int = attrs.field(default=50, validator=_at_least(1, 200))
    domains_per_account: int = attrs.field(default=20, validator=_at_least(1, 1000))
    free_requests_per_minute: int = attrs.field(default=30, validator=POSITIVE)
    pro_requests_per_minute: int = attrs.field(default=120, validator=POSITIVE)
    enterprise_requests_per_minute: int = attrs.field(default=600, validator=POSITIVE)
    pro_images_per_month: int = attrs.field(default=1_000, validator=_at_least(0))
    enterprise_images_per_month: int = attrs.field(default=100_000, validator=_at_least(0))
    purge_interval_minutes: float = attrs.field(default=10.0, validator=_at_least(0.1))
    sweep_horizon_minutes: float = attrs.field(default=60.0, validator=_at_least(0))
    shutdown_seconds: int = attrs.field(default=180, validator=_at_least(1, 3600))
    mailer: MailerKind = attrs.field(default=MailerKind.AUTO, converter=_mailer)
    smtp_host: str = ""
    smtp_port: int = attrs.field(default=25, validator=_at_least(1, 65535))
    smtp_sender: str = "cropedly@localhost"
    smtp_username: str = ""
    smtp_password: str = attrs.field(default="", repr=False)
    smtp_security: SmtpSecurity = attrs.field(default=SmtpSecurity.NONE, converter=_smtp_security)
    log_level: LogLevel = attrs.field(default=LogLevel.INFO, converter=_log_level)
    log_format: LogFormat = attrs.field(default=LogFormat.AUTO, converter=_log_format)
    metrics: Switch = attrs.field(default=Switch.ON, converter=_metrics)
    google_issuer: str = attrs.field(default="https://accounts.google.com", validator=_url)
    google_client_id: str = ""
    google_client_secret: str = attrs.field(default="", repr=False)
    redis_url: str = attrs.field(default="", repr=False, validator=_redis_url)
    s3_endpoint_url: str = attrs.field(default="", validator=_url)
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = attrs.field(default="", repr=False)

    def __attrs_post_init__(self) -> None:
        if self.mailer is MailerKind.SMTP and not self.smtp_host:
            raise SettingsError("CROPEDLY_MAILER=smtp needs CROPEDLY_SMTP_HOST.")
        if self.image_queue is QueueKind.REDIS and not self.redis_url:
            raise SettingsError("CROPEDLY_IMAGE_QUEUE=redis needs CROPEDLY_REDIS_URL.")
        if self.google_client_id and not self.google_client_secret:
            raise SettingsError("CROPEDLY_GOOGLE_CLIENT_ID needs CROPEDLY_GOOGLE_CLIENT_SECRET.")
        if bool(self.s3_access_key_id) != bool(self.s3_secret_access_key):
            raise SettingsError(
                "CROPEDLY_S3_ACCESS_KEY_ID and CROPEDLY_S3_SECRET_ACCESS_KEY go together."
            )

    @property
    def mail(self) -> MailerKind:
        """The mailer in use, ``auto`` resolved."""
        if self.mailer is MailerKind.AUTO:
            return MailerKind.SMTP if self.smtp_host else MailerKind.OUTBOX
        return self.mailer

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "cropedly.sqlite3"

    @property
    def database_address(self) -> str:
        """Where the database is, for logs: the SQLite file or the redacted URL."""
        return redact_url(self.database_url) if self.database_url else str(self.database_path)

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def blobs(self) -> str:
        return self.blob_url or str((self.data_dir / "blobs").resolve())

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(
            max_file_bytes=self.max_file_bytes,
            max_pixels=self.max_pixels,
            max_files=self.max_files,
            max_output_pixels=self.max_output_pixels,
            seconds_per_image=self.seconds_per_image,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``CROPEDLY_<FIELD>`` variables; ``overrides`` win (CLI flags).

        Raises ``SettingsError`` naming the first bad variable.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in attrs.fields(cls):
            raw = env.get(_variable(field.name))
            if raw is None or raw == "":
                continue
            values[field.name] = _structure(field, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)  # type: ignore[arg-type]
        except TypeError as exc:  # an override of the wrong type: a programming error
            raise SettingsError(str(exc)) from None


_CONVERTER = cattrs.Converter()
_CONVERTER.register_structure_hook(Path, lambda value, _: Path(value))


def _structure(field: attrs.Attribute[Any], raw: str) -> object:
    """The environment string as the field's type; enums are checked by the validator."""
    kind = {"int": int, "float": float, "str": str, "Path": Path}.get(str(field.type))
    if kind is None:
        return raw
    if len(raw) > 4096:
        raise SettingsError(f"{_variable(field.name)}: longer than 4096 characters.")
    try:
        value: object = _CONVERTER.structure(raw.strip() if kind is not str else raw, kind)
    except (ValueError, cattrs.BaseValidationError):
        expected = {int: "a whole number", float: "a number"}.get(kind, "a value")
        raise SettingsError(f"{_variable(field.name)}={raw!r}: must be {expected}.") from None
    if isinstance(value, float) and math.isnan(value):  # NaN passes every comparison
        raise SettingsError(f"{_variable(field.name)}={raw!r}: must be a number.")
    return value
