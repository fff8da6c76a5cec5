"""The id of the request being served, for log lines (the HTTP edge sets it).

It lives here, not in the entrypoints, because an adapter carries it further:
``ProcessWorkers`` sends it with each job so that an image worker's log lines name
the request too. The core never reads it.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("cropedly_request_id", default=None)
