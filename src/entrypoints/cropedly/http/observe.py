"""Request ids, and the hook that times every request for the metrics.

``observe`` wraps Litestar's ASGI handler (outside its exception handling and
routing, so unknown routes and 500s are seen too). Each request gets an id: the
client's ``X-Request-Id`` when it is short and plain (at most 128 characters of
``A-Z a-z 0-9 . _ : + / = @ -``), else a fresh random one, so a client cannot put
line breaks, markup or megabytes into our logs through it. The id is set in a
context variable for the request's log lines and problem bodies (``requestId``),
and returned in the ``X-Request-Id`` response header.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from cropedly_adapters.request_context import request_id

HEADER = "X-Request-Id"
_HEADER_KEY = HEADER.lower().encode()
MAX_LENGTH = 128
_ACCEPTED = re.compile(rf"[A-Za-z0-9._:+/=@-]{{1,{MAX_LENGTH}}}")

# Called once per finished request: (scope, status, seconds).
ResponseHook = Callable[[Scope, int, float], None]


def accepted_request_id(value: bytes | None) -> str:
    """The client's id when acceptable, else a fresh one (32 hex digits)."""
    if value is not None and len(value) <= MAX_LENGTH:
        text = value.decode("latin-1")
        if _ACCEPTED.fullmatch(text):
            return text
    return uuid.uuid4().hex


def _incoming(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            return value
    return None


def observe(app: ASGIApp, on_response: ResponseHook | None = None) -> ASGIApp:
    """ASGI wrapper: the request id around ``app``, then ``on_response`` when it is done."""

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = accepted_request_id(_incoming(scope))
        token = request_id.set(rid)
        status = 500  # if the app fails before it answers, the server answers 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)[HEADER] = rid
            # uvicorn writes its access-log line inside this call: the id is still set.
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
            if on_response is not None:
                on_response(scope, status, time.perf_counter() - started)

    return handle
