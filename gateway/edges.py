"""What aiohttp's parser lets through but the gateway refuses, before any route runs.

An HTTP version other than 1.0 or 1.1 gets 505; a request without exactly one `Host` 400; a
`Transfer-Encoding` other than plain `chunked` 501 (aiohttp's parser itself answers 400 when
`chunked` is not the last coding, as RFC 9112 section 6.1 asks); a body with any
`Content-Encoding` 415 (bodies are never decompressed: `auto_decompress` is off); a query string
or a percent-encoded path on a device route 400. Each refusal closes the connection, since the
framing of what follows cannot be trusted.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion10, HttpVersion11

from gateway.answers import Answer, error_answer
from gateway.api import HEALTH, Handler, respond
from gateway.relay import RETURNS, VERIFY

DEVICE_PATHS = frozenset({VERIFY, RETURNS, HEALTH})


def _closing(answer: Answer) -> web.Response:
    resp = respond(answer)
    resp.force_close()
    return resp


def refusal(request: web.Request) -> web.Response | None:
    """The refusal of a request the device API does not take, or None."""
    if request.version not in (HttpVersion10, HttpVersion11):
        # aiohttp writes the answer's status line with the request's version (a cached
        # property): make it HTTP/1.1.
        request._version = HttpVersion11
        request._cache.pop("version", None)
        return _closing(error_answer(505, "HTTP_VERSION_NOT_SUPPORTED", "HTTP/1.1 only"))
    hosts = request.headers.getall(hdrs.HOST, [])
    if len(hosts) != 1 and (hosts or request.version == HttpVersion11):
        return _closing(error_answer(400, "BAD_REQUEST", "exactly one Host header is needed"))
    codings = request.headers.getall(hdrs.TRANSFER_ENCODING, [])
    if codings and [c.strip().lower() for c in ",".join(codings).split(",")] != ["chunked"]:
        return _closing(
            error_answer(501, "NOT_IMPLEMENTED", "only the chunked transfer coding is served")
        )
    if hdrs.CONTENT_ENCODING in request.headers:
        return _closing(
            error_answer(415, "UNSUPPORTED_MEDIA_TYPE", "a body must not be content-encoded")
        )
    if request.path in DEVICE_PATHS and request.raw_path != request.path:
        return _closing(
            error_answer(400, "BAD_REQUEST", "no query string or percent-encoding on this path")
        )
    return None


@web.middleware
async def http_edges(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse what `refusal` refuses, else run the route."""
    refused = refusal(request)
    if refused is not None:
        return refused
    return await handler(request)
