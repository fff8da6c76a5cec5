"""Settings are parsed and checked at load: one line naming the variable, never later."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from cropedly.bootstrap import worker_pipeline
from cropedly.settings import (
    LogLevel,
    Settings,
    SettingsError,
    SmtpSecurity,
    ToneKind,
    UpscalerKind,
)
from cropedly_core.images.model import ImageLimits

BAD = [
    ("CROPEDLY_PORT", "abc", "whole number"),
    ("CROPEDLY_PORT", "0", "from 1 to 65535"),
    ("CROPEDLY_PORT", "70000", "from 1 to 65535"),
    ("CROPEDLY_WORKERS", "0", "from 1"),
    ("CROPEDLY_IMAGE_WORKERS", "-1", "from 1"),
    ("CROPEDLY_UPSCALER", "bogus", "one of onnx, lanczos"),
    ("CROPEDLY_TONE", "fancy", "one of classic, learned"),
    ("CROPEDLY_SMTP_SECURITY", "ssl", "one of none, starttls, tls"),
    ("CROPEDLY_LOG_LEVEL", "LOUD", "one of DEBUG, INFO, WARNING, ERROR"),
    ("CROPEDLY_SECONDS_PER_IMAGE", "nan", "a number"),
    ("CROPEDLY_SECONDS_PER_IMAGE", "0", "from 1"),
    ("CROPEDLY_RESULT_TTL_HOURS", "forever", "a number"),
    ("CROPEDLY_SWEEP_HORIZON_MINUTES", "-5", "at least 0"),
    ("CROPEDLY_SHUTDOWN_SECONDS", "0", "from 1 to 3600"),
    ("CROPEDLY_MAX_FILES", "1.5", "whole number"),
    ("CROPEDLY_MAX_PIXELS", "0", "at least 1"),
    ("CROPEDLY_QUEUE_LIMIT", "-3", "at least 0"),
    ("CROPEDLY_CATALOG_PAGE_SIZE", "500", "from 1 to 200"),
    ("CROPEDLY_DOMAINS_PER_ACCOUNT", "0", "from 1 to 1000"),
    ("CROPEDLY_FREE_REQUESTS_PER_MINUTE", "0", "at least 1"),
    ("CROPEDLY_PRO_REQUESTS_PER_MINUTE", "many", "a whole number"),
    ("CROPEDLY_ENTERPRISE_REQUESTS_PER_MINUTE", "-1", "at least 1"),
    ("CROPEDLY_PRO_IMAGES_PER_MONTH", "-1", "at least 0"),
    ("CROPEDLY_ENTERPRISE_IMAGES_PER_MONTH", "1.5", "a whole number"),
    ("CROPEDLY_PUBLIC_URL", "example.com", "http(s)://"),
    ("CROPEDLY_SMTP_PORT", "99999999999999999999", "from 1 to 65535"),
    ("CROPEDLY_LOGIN_WINDOW_MINUTES", "x" * 5000, "4096"),
    ("CROPEDLY_MAILER", "pigeon", "one of auto, outbox, smtp, off"),
    ("CROPEDLY_GOOGLE_ISSUER", "accounts.google.com", "http(s)://"),
    ("CROPEDLY_REDIS_URL", "localhost:6379", "redis://"),
    ("CROPEDLY_S3_ENDPOINT_URL", "minio:9000", "http(s)://"),
    ("CROPEDLY_IMAGE_QUEUE", "rabbit", "one of local, redis"),
    ("CROPEDLY_QUEUE_WAIT_SECONDS", "0", "from 1 to 3600"),
    ("CROPEDLY_WEBHOOK_ALLOW_PRIVATE", "maybe", "true or false"),
    ("CROPEDLY_DATABASE_URL", "mysql://root:pw@db/app", "postgresql://"),
    ("CROPEDLY_DATABASE_URL", "/srv/cropedly.sqlite3", "postgresql://"),
    ("CROPEDLY_DATABASE_POOL_SIZE", "0", "from 1 to 1000"),
    ("CROPEDLY_DATABASE_POOL_TIMEOUT", "never", "a number"),
]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"CROPEDLY_MAILER": "smtp"}, "CROPEDLY_SMTP_HOST"),
        ({"CROPEDLY_GOOGLE_CLIENT_ID": "abc"}, "CROPEDLY_GOOGLE_CLIENT_SECRET"),
        ({"CROPEDLY_S3_SECRET_ACCESS_KEY": "x"}, "CROPEDLY_S3_ACCESS_KEY_ID"),
        ({"CROPEDLY_IMAGE_QUEUE": "redis"}, "CROPEDLY_REDIS_URL"),
    ],
)
def test_settings_that_need_another(environ: dict[str, str], expected: str) -> None:
    """A setting that cannot work without another names the missing one at start."""
    with pytest.raises(SettingsError, match=expected):
        Settings.from_env(environ)


def test_the_mailer_defaults_to_the_outbox_then_smtp() -> None:
    """Never silently off: the outbox without SMTP, SMTP when a host is set."""
    assert "outbox" == Settings().mail.value
    assert "smtp" == Settings(smtp_host="mail.example.com").mail.value
    assert "off" == Settings(mailer="off").mail.value


def test_the_google_secret_is_not_in_the_repr() -> None:
    settings = Settings(google_client_id="id", google_client_secret="very-secret-value")
    assert "very-secret-value" not in repr(settings)


def test_the_redis_password_is_never_shown() -> None:
    """Not in the repr, not in the one-line error about a bad URL."""
    settings = Settings(redis_url="redis://:very-secret-value@cache:6379/0")
    assert "very-secret-value" not in repr(settings)
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"CROPEDLY_REDIS_URL": "redis//:very-secret-value@cache"})
    assert "very-secret-value" not in str(error.value)


@pytest.mark.parametrize(("variable", "value", "expected"), BAD)
def test_each_bad_value_names_its_variable_in_one_line(variable, value, expected):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: value})
    message = str(error.value)
    assert variable in message
    assert expected in message
    assert "\n" not in message
    assert len(message) < 300


def test_every_variable_has_a_bad_value_case_or_takes_any_text():
    free_text = {
        "data_dir",
        "host",
        "blob_url",
        "jwt_issuer",
        "jwt_audience",
        "smtp_host",
        "smtp_sender",
        "smtp_username",
        "smtp_password",
    }
    tested = {variable.removeprefix("CROPEDLY_").lower() for variable, _, _ in BAD}
    checked = {f.name for f in attrs.fields(Settings) if f.validator is not None}
    assert checked - free_text <= tested | {
        "login_failures_per_email",
        "login_failures_per_client",
        "registrations_per_client",
        "max_file_bytes",
        "max_request_bytes",
        "max_output_pixels",
        "onnx_threads",
        "catalog_max_images",
        "catalog_max_bytes",
        "purge_interval_minutes",
    }


def test_good_values_are_typed():
    settings = Settings.from_env(
        {
            "CROPEDLY_PORT": " 9000 ",
            "CROPEDLY_UPSCALER": "LANCZOS",
            "CROPEDLY_SMTP_SECURITY": "starttls",
            "CROPEDLY_LOG_LEVEL": "debug",
            "CROPEDLY_DATA_DIR": "/srv/cropedly",
            "CROPEDLY_RESULT_TTL_HOURS": "1.5",
        }
    )
    assert settings.port == 9000
    assert settings.upscaler is UpscalerKind.LANCZOS
    assert settings.smtp_security is SmtpSecurity.STARTTLS
    assert settings.log_level is LogLevel.DEBUG
    assert settings.data_dir == Path("/srv/cropedly")
    assert settings.result_ttl_hours == 1.5


def test_empty_variables_keep_the_default():
    assert Settings.from_env({"CROPEDLY_PORT": ""}).port == 8000


def test_image_limit_defaults_come_from_the_core_alone():
    assert Settings().image_limits == ImageLimits()


def test_the_password_never_shows_in_the_repr():
    assert "hunter2" not in repr(Settings(smtp_password="hunter2"))


def test_the_learned_tone_step_is_opt_in():
    """CROPEDLY_TONE=learned adds the tone model; the default keeps the classic step."""
    limits = ImageLimits()
    assert worker_pipeline(UpscalerKind.ONNX, 1, limits).toner is None
    assert worker_pipeline(UpscalerKind.ONNX, 1, limits, ToneKind.LEARNED).toner is not None
    assert Settings.from_env({"CROPEDLY_TONE": "LEARNED"}).tone is ToneKind.LEARNED


def test_the_redis_url_is_checked_and_never_shown() -> None:
    """A Redis URL may carry a password: not in the repr, not in the error line."""
    url = "redis://:hunter2@cache:6379/0"
    assert "hunter2" not in repr(Settings(redis_url=url))
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"CROPEDLY_REDIS_URL": "http://:hunter2@cache"})
    assert "CROPEDLY_REDIS_URL" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_s3_keys_go_together_and_the_secret_is_not_shown() -> None:
    with pytest.raises(SettingsError, match="CROPEDLY_S3_SECRET_ACCESS_KEY"):
        Settings(s3_access_key_id="AKIA")
    assert "topsecret" not in repr(
        Settings(s3_access_key_id="AKIA", s3_secret_access_key="topsecret")
    )


def test_s3_options_come_from_the_settings_only_for_s3_urls() -> None:
    from cropedly.bootstrap import blob_storage_options  # noqa: PLC0415

    settings = Settings(
        blob_url="s3://bucket/prefix",
        s3_endpoint_url="https://minio.example:9000",
        s3_region="eu-west-3",
        s3_access_key_id="AKIA",
        s3_secret_access_key="shh",
    )
    assert {
        "endpoint_url": "https://minio.example:9000",
        "client_kwargs": {"region_name": "eu-west-3"},
        "key": "AKIA",
        "secret": "shh",
    } == blob_storage_options(settings)
    # Without a key pair, botocore's own chain (AWS_* variables, profiles, roles) applies.
    assert {} == blob_storage_options(Settings(blob_url="s3://bucket"))
    assert {} == blob_storage_options(Settings(s3_endpoint_url="https://minio.example"))


def test_a_bad_database_url_is_not_echoed() -> None:
    """The URL may hold the password: the error names the variable, never the value."""
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"CROPEDLY_DATABASE_URL": "mysql://root:hunter2@db/app"})
    assert "hunter2" not in str(error.value)


def test_the_database_address_is_redacted() -> None:
    """Logs get scheme, user, host, port and database; not the password, not in repr either."""
    settings = Settings.from_env(
        {"CROPEDLY_DATABASE_URL": "postgresql://app:hunter2@db.internal:6432/cropedly?sslmode=require"}
    )
    assert "postgresql://app@db.internal:6432/cropedly" == settings.database_address
    assert "hunter2" not in repr(settings)
    assert Settings(data_dir="/srv/c").database_address.endswith("cropedly.sqlite3")
