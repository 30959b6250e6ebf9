"""aiohttp plumbing: HTTP-level errors (a malformed request line or header, before any handler
runs) get the shared JSON error body instead of aiohttp's text page, which quotes the offending
bytes back to the client.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from gateway.answers import error_answer

log = logging.getLogger(__name__)


class QuietRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering HTTP-level errors without echoing input."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> StreamResponse:
        """The shared error body; the parser's message (which quotes input) is dropped."""
        log.info("HTTP-level error %d: %s", status, type(exc).__name__ if exc else "-")
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already sent on this connection")
        if status < 500:
            answer = error_answer(status, "BAD_REQUEST", "malformed HTTP request")
        else:
            answer = error_answer(status, "INTERNAL", "internal error")
        resp = web.Response(status=answer.status, body=answer.body, content_type="application/json")
        resp.force_close()
        return resp


class QuietServer(web.Server):
    """An aiohttp low-level server whose connections use QuietRequestHandler."""

    def __call__(self) -> RequestHandler:
        return QuietRequestHandler(self, loop=self._loop, **self._kwargs)


class QuietAppRunner(web.AppRunner):
    """An AppRunner serving through QuietServer."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = QuietServer
        return server
