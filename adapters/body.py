"""Reading a request body with a limit, before anything else looks at it.

A webhook body is checked against its signature only once it is whole, so a server that reads
any body whole can be made to hold hundreds of megabytes per request: read in chunks and stop
at the limit (413), whatever Content-Length claims.
"""

from __future__ import annotations

from starlette.requests import Request

MAX_BODY_BYTES = 1024 * 1024  # LINE and Slack payloads are a few KB


class TooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's cache: later readers (bolt) get these bytes
    return body
