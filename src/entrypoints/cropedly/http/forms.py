"""Reading multipart forms with a limit on every part before any other work.

Litestar's parser keeps text fields of any size (up to the body limit), decodes
them with whatever charset a part names (a non-UTF-8 field was a 500), treats a
file part with an empty filename as text, and answers too many parts with a 400
titled "Request Entity Too Large". This parser, on the same ``multipart`` library,
stops a text field at ``MAX_TEXT_BYTES``, reads text as strict UTF-8, keeps every
part with a ``filename`` (even empty) as a file, and refuses past ``MAX_PARTS``
with one 413. Its result is what Litestar's ``data`` extraction reads, so the
form dataclasses of the auth routes go through it too (``bounded_form`` hook).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException
from litestar.utils.scope.state import ScopeState
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from cropedly_core.errors import InvalidInput

MAX_TEXT_BYTES = 4096  # longer than any e-mail, name, password, token, id or option we take
MAX_PARTS = 100  # files per request are capped far lower (settings.max_files)
MAX_PART_HEADER_BYTES = 4096
FORM_BODY_BYTES = 64 * 1024  # bodies of the text-only forms (login, register, reset)
MAX_URLENCODED_BYTES = 64 * 1024

FormValues = dict[str, list[str | UploadFile]]


class PayloadTooLarge(HTTPException):
    status_code = 413


async def parse_form(
    request: Request[Any, Any, Any],
    max_body: int | None = None,
    file_fields: Collection[str] = (),
) -> FormValues:
    """The parts of a ``multipart/form-data`` body, in order, each bounded.

    ``max_body`` lowers the app's body limit for this route (text-only forms);
    parts named in ``file_fields`` are files even when they carry no filename.
    """
    content_type, options = request.content_type
    if (
        not request.headers.get("content-type")
        and request.headers.get("content-length", "0") == "0"
    ):
        return defaultdict(list)  # no body at all: an empty form, whose fields are missing
    if content_type == "application/x-www-form-urlencoded":
        return await _read_urlencoded(request, max_body or MAX_URLENCODED_BYTES)
    if content_type != "multipart/form-data":
        raise HTTPException(status_code=415, detail="Send the form as multipart/form-data.")
    boundary = options.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise HTTPException(status_code=400, detail="The multipart boundary is missing.")
    fields: FormValues = defaultdict(list)
    try:
        await _read(request, boundary, fields, max_body, file_fields)
    except ParserLimitReached:
        await close_files(fields)
        raise PayloadTooLarge(
            detail=f"At most {MAX_PARTS} form parts of at most "
            f"{MAX_PART_HEADER_BYTES} header bytes each are accepted."
        ) from None
    except ParserError:
        await close_files(fields)
        raise HTTPException(status_code=400, detail="The multipart body is malformed.") from None
    except BaseException:
        await close_files(fields)
        raise
    return fields


async def _read(
    request: Request[Any, Any, Any],
    boundary: str,
    fields: FormValues,
    max_body: int | None,
    file_fields: Collection[str],
) -> None:
    declared = request.headers.get("content-length", "")
    too_big = max_body is not None and declared.isdigit() and len(declared) < 19
    if too_big and int(declared) > (max_body or 0):
        raise PayloadTooLarge(detail=_too_large(max_body or 0))
    received = 0
    part = _Part(file_fields)
    with PushMultipartParser(
        boundary,
        max_header_size=MAX_PART_HEADER_BYTES,
        max_segment_count=MAX_PARTS,
        strict=True,
    ) as parser:
        async for chunk in request.stream():
            received += len(chunk)
            if max_body is not None and received > max_body:
                raise PayloadTooLarge(detail=_too_large(max_body))
            for event in parser.parse(chunk):
                await part.take(event, fields)
        if not parser.closed:
            raise ParserError("The multipart body ended early.")


class _Part:
    """The part being read: its headers, then its bytes (a file, or bounded text)."""

    def __init__(self, file_fields: Collection[str]) -> None:
        self.file_fields = file_fields
        self.segment: MultipartSegment | None = None
        self.data: UploadFile | bytearray = bytearray()

    async def take(
        self, event: MultipartSegment | bytes | bytearray | None, fields: FormValues
    ) -> None:
        if isinstance(event, MultipartSegment):
            self.segment = event
            # A filename, even an empty one, makes a file part.
            is_file = event.filename is not None or event.name in self.file_fields
            self.data = (
                bytearray()
                if not is_file
                else UploadFile(
                    content_type=event.content_type or "application/octet-stream",
                    filename=event.filename or "",
                    headers=dict(event.headerlist),
                )
            )
        elif event:
            if isinstance(self.data, UploadFile):
                await self.data.write(bytes(event))
                return
            self.data.extend(event)
            if len(self.data) > MAX_TEXT_BYTES:
                name = self.segment.name if self.segment else "?"
                raise InvalidInput(
                    f"The field {name!r} is longer than {MAX_TEXT_BYTES} bytes.", field=name
                )
        elif self.segment is not None:
            fields[self.segment.name].append(await _finish(self.segment, self.data))
            self.data, self.segment = bytearray(), None


async def _finish(segment: MultipartSegment, data: UploadFile | bytearray) -> str | UploadFile:
    if isinstance(data, UploadFile):
        await data.seek(0)
        return data
    try:
        # Always UTF-8, whatever charset the part names: the API's text is UTF-8.
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"The field {segment.name!r} is not valid UTF-8 text.", field=segment.name
        ) from None


async def _read_urlencoded(request: Request[Any, Any, Any], limit: int) -> FormValues:
    """Text fields sent url-encoded (no files possible), with the same bounds."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(detail=_too_large(limit))
    fields: FormValues = defaultdict(list)
    try:
        pairs = parse_qsl(
            body.decode("ascii"), keep_blank_values=True, errors="strict", max_num_fields=MAX_PARTS
        )
    except UnicodeDecodeError:
        raise HTTPException(status_code=400, detail="The url-encoded body is malformed.") from None
    except ValueError:
        raise PayloadTooLarge(detail=f"At most {MAX_PARTS} form fields are accepted.") from None
    for name, value in pairs:
        if len(value.encode()) > MAX_TEXT_BYTES:
            raise InvalidInput(
                f"The field {name[:100]!r} is longer than {MAX_TEXT_BYTES} bytes.", field=name[:100]
            )
        fields[name].append(value)
    return fields


def _too_large(limit: int) -> str:
    return f"At most {limit} bytes are accepted by this form."


async def close_files(fields: FormValues) -> None:
    for values in fields.values():
        for value in values:
            if isinstance(value, UploadFile):
                await value.close()


async def bounded_form(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook of the text-form routes: parse with our limits first.

    Litestar's ``data`` extraction reuses a form already in the scope state, so the
    route's dataclass is then filled from this parser's result, never from its own.
    """
    fields = await parse_form(request, FORM_BODY_BYTES)
    state = ScopeState.from_scope(request.scope)
    form: dict[str, Any] = {k: v if len(v) > 1 else v[0] for k, v in fields.items()}
    state.form = form
