"""The log formatter, redaction and request-id handling (cropedly.logs, cropedly.http.observe)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from cropedly.http.app import create_app
from cropedly.http.observe import MAX_LENGTH, accepted_request_id, observe
from cropedly.logs import JsonFormatter, RequestIdFilter, TextFormatter, configure, redact, resolved
from cropedly.settings import LogFormat, Settings, SettingsError
from cropedly_adapters.request_context import request_id
from doubles import in_memory_services


def record(message: str, *args: object, name: str = "cropedly.test") -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)
    RequestIdFilter().filter(made)
    return made


class TestRedact:
    @pytest.mark.parametrize(
        ("text", "secret"),
        [
            ("GET /images/v1/results/a?expires=1&sig=AbC-123_x HTTP/1.1", "AbC-123_x"),
            ("token=a.1.b password=hunter2-long", "hunter2-long"),
            ("token=abcdef.1.sig", "abcdef.1.sig"),
            ("Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "c2lnbmF0dXJl"),
            ("a jwt eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.sig_nature here", "sig_nature"),
            ("key cpk_0123456789abcdefghijKLMN used", "0123456789abcdefghij"),
            ("apiKey=cpk_x&newPassword=s3cret!!", "s3cret!!"),
            ("callback?code=4/0AbCdEf&state=xyz", "4/0AbCdEf"),
            ("connecting to redis://:s3cr3t-pw@cache:6379/0", "s3cr3t-pw"),
            ("postgresql://app:pg-pass@db/cropedly", "pg-pass"),
        ],
    )
    def test_credentials_are_replaced(self, text: str, secret: str) -> None:
        assert secret not in redact(text)
        assert "REDACTED" in redact(text)

    def test_plain_text_is_untouched(self) -> None:
        text = "enhanced 2 image(s) for 01HZX; purged 3 expired result(s) tokens of 5"
        assert text == redact(text)


class TestJsonFormatter:
    def test_one_json_object_per_line_with_request_id(self) -> None:
        token = request_id.set("req-1")
        try:
            made = record("hello %s", "world")
        finally:
            request_id.reset(token)
        line = JsonFormatter().format(made)
        assert "\n" not in line
        entry = json.loads(line)
        assert "hello world" == entry["message"]
        assert "req-1" == entry["requestId"]
        assert ("INFO", "cropedly.test") == (entry["level"], entry["logger"])
        assert entry["time"].endswith("Z")

    def test_outside_a_request_there_is_no_request_id(self) -> None:
        assert "requestId" not in json.loads(JsonFormatter().format(record("x")))

    def test_access_log_fields_are_structured_and_redacted(self) -> None:
        made = record(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            "/images/v1/results/a?expires=9&sig=secretsig",
            "1.1",
            200,
            name="uvicorn.access",
        )
        entry = json.loads(JsonFormatter().format(made))
        assert ("GET", 200) == (entry["method"], entry["status"])
        assert "/images/v1/results/a?expires=9&sig=REDACTED" == entry["path"]
        assert "secretsig" not in json.dumps(entry)

    def test_tracebacks_are_one_field_and_redacted(self) -> None:
        error = ValueError("bad token=abc.1.def")
        made = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), (ValueError, error, None)
        )
        entry = json.loads(JsonFormatter().format(made))
        assert "ValueError" in entry["exception"]
        assert "abc.1.def" not in entry["exception"]


class TestTextFormatter:
    def test_names_the_request_and_redacts(self) -> None:
        token = request_id.set("abc")
        try:
            line = TextFormatter().format(record("GET /x?sig=zzz"))
        finally:
            request_id.reset(token)
        assert "[abc]" in line
        assert "INFO cropedly.test" in line
        assert "zzz" not in line


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    access = logging.getLogger("uvicorn.access")
    access_state = (list(access.handlers), access.propagate)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        access.handlers[:], access.propagate = access_state


class TestConfigure:
    def test_auto_is_json_off_a_terminal(self) -> None:
        assert LogFormat.JSON is resolved(LogFormat.AUTO, io.StringIO())
        assert LogFormat.TEXT is resolved(LogFormat.TEXT, io.StringIO())

    @pytest.mark.usefixtures("restore_logging")
    def test_uvicorn_access_log_comes_out_in_the_same_format(self) -> None:
        stream = io.StringIO()
        configure("INFO", LogFormat.JSON, stream)
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "1.2.3.4:1", "GET", "/health", "1.1", 200
        )
        logging.getLogger("cropedly").info("ready")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert ["uvicorn.access", "cropedly"] == [line["logger"] for line in lines]

    def test_the_setting_is_validated(self) -> None:
        assert LogFormat.JSON is Settings.from_env({"CROPEDLY_LOG_FORMAT": "JSON"}).log_format
        with pytest.raises(SettingsError, match="CROPEDLY_LOG_FORMAT"):
            Settings.from_env({"CROPEDLY_LOG_FORMAT": "xml"})


class TestRequestIds:
    @pytest.mark.parametrize(
        "given",
        [b"abc-123", b"0f8fad5b-d9cb-469f-a165-70867728950e", b"Root=1-5e1b.a:b/c+d@e", b"x" * 128],
    )
    def test_a_plain_short_id_is_kept(self, given: bytes) -> None:
        assert given.decode() == accepted_request_id(given)

    @pytest.mark.parametrize(
        "given",
        [None, b"", b"x" * (MAX_LENGTH + 1), b"a b", b"a\nb", b"<script>", b"caf\xc3\xa9", b'a"b'],
    )
    def test_anything_else_gets_a_fresh_one(self, given: bytes | None) -> None:
        fresh = accepted_request_id(given)
        assert 32 == len(fresh)
        assert fresh != accepted_request_id(given)
        assert all(c in "0123456789abcdef" for c in fresh)

    def test_the_id_is_in_the_header_and_in_problems(self) -> None:
        with TestClient(app=create_app(in_memory_services())) as client:
            ok = client.get("/health", headers={"X-Request-Id": "mine-1"})
            assert "mine-1" == ok.headers["x-request-id"]
            missing = client.get("/nowhere", headers={"X-Request-Id": "mine-2"})
            assert 404 == missing.status_code
            assert "mine-2" == missing.json()["requestId"] == missing.headers["x-request-id"]
            refused = client.get("/auth/v1/me", headers={"X-Request-Id": "bad id\x7f"})
            assert 401 == refused.status_code
            assert refused.json()["requestId"] == refused.headers["x-request-id"]
            assert "bad" not in refused.json()["requestId"]
            ids = {client.get("/health").headers["x-request-id"] for _ in range(3)}
            assert 3 == len(ids)

    def test_a_500_carries_the_id_and_hooks_see_every_request(self) -> None:
        @get("/boom", sync_to_thread=False)
        def boom() -> None:
            raise RuntimeError("boom")

        seen: list[tuple[Any, int]] = []
        app = create_app(in_memory_services(), [boom])
        app.asgi_handler = observe(
            app.asgi_handler,
            lambda scope, status, _: seen.append((scope.get("path_template"), status)),
        )
        with TestClient(app=app) as client:
            answer = client.get("/boom", headers={"X-Request-Id": "r-500"})
            assert 500 == answer.status_code
            assert "r-500" == answer.json()["requestId"]
        assert ("/boom", 500) in seen
        assert isinstance(app, Litestar)
