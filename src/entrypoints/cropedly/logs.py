"""Log output of the server: one format for Cropedly's loggers, uvicorn's and the image workers'.

A stdlib ``logging.Formatter`` rather than structlog: every line we need to shape
comes through the standard library already (uvicorn's access and error logs, the
core's and the adapters' ``logging.getLogger`` calls, the image worker
processes), so one handler with one formatter on the root logger covers them all
with no second logging system to bridge. ``CROPEDLY_LOG_FORMAT`` picks:

- ``text``: ``time level logger [request id] message``, for people;
- ``json``: one JSON object per line (``time``, ``level``, ``logger``, ``message``,
  ``pid``, ``requestId`` within a request; the access log adds ``client``,
  ``method``, ``path``, ``status``), for log shippers;
- ``auto`` (default): text when stderr is a terminal, JSON otherwise.

Every line passes ``redact`` last: link signatures, tokens, passwords, API keys,
bearer tokens and JWTs are replaced even if some code put them in a message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any

from cropedly.settings import LogFormat
from cropedly_adapters.request_context import request_id

HANDLER_NAME = "cropedly"
REDACTED = "REDACTED"
# Query or form style secrets: ?sig=..., &token=..., password=... (any case).
_SECRET_PARAMS = re.compile(
    r"(?<![A-Za-z0-9_])((?:sig|signature|token|password|new_?password|current_?password"
    r"|api_?key|secret|code|access_token|refresh_token|id_token)=)[^&\s\"',;]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_API_KEY = re.compile(r"\bcpk_[A-Za-z0-9_-]{12,}")
# The password of a server URL: redis://:pw@host, postgresql://user:pw@host/db.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s/]+@")
_ACCESS_FIELDS = ("client", "method", "path", "httpVersion", "status")


def redact(text: str) -> str:
    """``text`` with anything that looks like a credential replaced."""
    text = _SECRET_PARAMS.sub(rf"\1{REDACTED}", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
    return _API_KEY.sub(f"cpk_{REDACTED}", text)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (or ``-``) on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id.get() or "-"
        return True


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,
        }
        rid = getattr(record, "request_id", None)
        if rid and rid != "-":
            entry["requestId"] = rid
        # uvicorn's access log: (client address, method, path, HTTP version, status).
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            for name, value in zip(_ACCESS_FIELDS, args, strict=True):
                entry[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-11-29 08:00:00,123 INFO cropedly.http [3f2a...] message``, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):  # a handler without RequestIdFilter
            record.request_id = "-"
        return redact(super().format(record))


def resolved(fmt: LogFormat, stream: IO[str] | None = None) -> LogFormat:
    """``auto`` made concrete: text on a terminal, JSON otherwise."""
    if fmt is not LogFormat.AUTO:
        return fmt
    target = stream or sys.stderr
    try:
        tty = target.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        tty = False
    return LogFormat.TEXT if tty else LogFormat.JSON


def configure(level: str, fmt: LogFormat, stream: IO[str] | None = None) -> None:
    """Route every log record of this process through one handler in ``fmt``.

    Called in each process that logs: ``cropedly serve`` before uvicorn starts, the
    ASGI factory in every uvicorn worker, and each image worker process. It replaces
    the root logger's handlers and makes uvicorn's loggers hand their records to it,
    so the access log has the same format (and the request id) as everything else.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if resolved(fmt, stream) is LogFormat.JSON else TextFormatter()
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
