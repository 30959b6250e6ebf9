"""The HTTP API of devices: POST /v1/verifications, POST /v1/returns, GET /v1/health.

Bad input gets a 4xx with the shared error body naming the field, never echoing a value; an
unexpected error gets a bare 500, never a stack trace. See docs/gateway-api.yaml.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from gateway.accesslog import AccessLog
from gateway.answers import Answer, error_answer
from gateway.logs import SafeFormatter
from gateway.peers import Peer, PeerIdentifier, Role
from gateway.relay import RETURNS, VERIFY, Relay
from gateway.store.base import Store
from protocol.messages import (
    MAX_BODY_BYTES,
    MessageError,
    decode_body,
    encode_body,
    parse_return_request,
    parse_verification_request,
)

log = logging.getLogger(__name__)
HEALTH = "/v1/health"
SERVER_NAME = "kiosk-gateway"
_JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _SentAndForgotten(web.Response):
    """A response that lets go of its body once sent: an answer may carry personal data, and
    aiohttp keeps the last response of a keep-alive connection until the next request."""

    async def write_eof(self, data: bytes = b"") -> None:
        """Send the rest, then drop the body."""
        await super().write_eof(data)
        self._body = None
        self._compressed_body = None


def respond(answer: Answer) -> web.Response:
    """The aiohttp response of an Answer."""
    resp = _SentAndForgotten(status=answer.status, body=answer.body, content_type=_JSON)
    resp.headers[hdrs.SERVER] = SERVER_NAME
    if answer.status == 413:
        resp.force_close()
    return resp


def peer_of(request: web.Request, peers: PeerIdentifier) -> Peer | None:
    """The authenticated client of the request's connection."""
    transport = request.transport
    if transport is None:
        return None
    return peers.identify(transport.get_extra_info("ssl_object"))


BODY = web.RequestKey("body", bytearray)


async def read_body(request: web.Request) -> bytearray | None:
    """The request's body in a buffer of its own (None when over the limit), kept on the request.

    Not `request.read()`: that caches the body as bytes on the request, which aiohttp keeps until
    the connection's next request. This buffer is wiped once the request is answered.
    """
    raw = bytearray()
    request[BODY] = raw
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return None  # refused before reading a byte of it
    while chunk := await request.content.readany():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return None
    return raw


def wipe_body(request: web.Request) -> None:
    """Overwrite the request's body buffer."""
    raw = request.get(BODY)
    if raw is not None:
        raw[:] = bytes(len(raw))


async def read_json(request: web.Request) -> dict[str, object] | Answer:
    """The request's JSON object (its body read by the connection guard), or the 4xx answer."""
    if request.content_type != _JSON:
        return error_answer(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json")
    try:
        return decode_body(request[BODY])
    except MessageError as err:
        return error_answer(400, "BAD_REQUEST", str(err), err.field)


def guarded(endpoint: str, handler: Handler) -> Handler:
    """Turn any unexpected exception into a bare 500, logged without its message."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            log.error(
                "unexpected error in %s:\n%s",
                endpoint,
                SafeFormatter().formatException(sys.exc_info()),
            )
            return respond(error_answer(500, "INTERNAL", "internal error"))

    return run


class DeviceApi:
    """Handlers of the device endpoints."""

    def __init__(
        self, relay: Relay, peers: PeerIdentifier, store: Store, access: AccessLog
    ) -> None:
        self._relay = relay
        self._peers = peers
        self._store = store
        self._access = access

    def add_routes(self, app: web.Application) -> None:
        """Register the routes."""
        app.router.add_post(VERIFY, guarded(VERIFY, self.verifications))
        app.router.add_post(RETURNS, guarded(RETURNS, self.returns))
        app.router.add_get(HEALTH, guarded(HEALTH, self.health))

    def _device(self, peer: Peer | None, endpoint: str) -> Peer | Answer:
        if peer is None or peer.role is not Role.DEVICE:
            self._access.write(endpoint, "-", "-", "-", 403, "FORBIDDEN", 0.0, 0.0)
            return error_answer(403, "FORBIDDEN", "a device certificate is required")
        return peer

    def _bad_input(self, endpoint: str, peer: Peer, answer: Answer) -> Answer:
        self._access.write(endpoint, peer.name, "-", "-", answer.status, answer.outcome, 0.0, 0.0)
        return answer

    async def _verify(self, peer: Peer, body: dict[str, object]) -> Answer:
        try:
            req = parse_verification_request(body)
        except MessageError as err:
            return self._bad_input(
                VERIFY, peer, error_answer(400, "BAD_REQUEST", str(err), err.field)
            )
        return await self._relay.verify(peer, req)

    async def _return(self, peer: Peer, body: dict[str, object]) -> Answer:
        try:
            req = parse_return_request(body)
        except MessageError as err:
            return self._bad_input(
                RETURNS, peer, error_answer(400, "BAD_REQUEST", str(err), err.field)
            )
        return await self._relay.send_return(peer, req)

    async def verifications(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/verifications."""
        peer = self._device(peer_of(request, self._peers), VERIFY)
        if isinstance(peer, Answer):
            return respond(peer)
        body = await read_json(request)
        if isinstance(body, Answer):
            return respond(self._bad_input(VERIFY, peer, body))
        return respond(await self._verify(peer, body))

    async def returns(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/returns (data balikan)."""
        peer = self._device(peer_of(request, self._peers), RETURNS)
        if isinstance(peer, Answer):
            return respond(peer)
        body = await read_json(request)
        if isinstance(body, Answer):
            return respond(self._bad_input(RETURNS, peer, body))
        return respond(await self._return(peer, body))

    async def health(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/health: any client with a device or admin certificate."""
        if peer_of(request, self._peers) is None:
            return respond(error_answer(403, "FORBIDDEN", "a client certificate is required"))
        return respond(await self.health_answer())

    async def probe(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/health on the probe listener (plain HTTP, no client certificate)."""
        return respond(await self.health_answer())

    async def health_answer(self) -> Answer:
        """The gateway's state: store reachable, upstream answering. No ids, no counts."""
        store_ok = True
        try:
            await self._store.ping()
        except Exception:
            store_ok = False
        body = {
            "status": "ok" if store_ok else "degraded",
            "store": "ok" if store_ok else "down",
            "upstream": "ok" if self._relay.upstream_ok else "failing",
        }
        return Answer(200 if store_ok else 503, encode_body(body), "HEALTH", False)


def add_fallback(app: web.Application, known: dict[str, str]) -> None:
    """A catch-all answering JSON 404/405 instead of aiohttp's text pages."""

    async def fallback(request: web.Request) -> web.StreamResponse:
        path = request.path
        for pattern, methods in known.items():
            if _matches(pattern, path):
                resp = respond(error_answer(405, "METHOD_NOT_ALLOWED", f"allowed: {methods}"))
                resp.headers[hdrs.ALLOW] = methods
                return resp
        return respond(error_answer(404, "NOT_FOUND", "no such endpoint"))

    app.router.add_route("*", "/{tail:.*}", fallback)


def _matches(pattern: str, path: str) -> bool:
    want = pattern.split("/")
    got = path.split("/")
    return len(want) == len(got) and all(
        w == g or (w.startswith("{") and w.endswith("}")) for w, g in zip(want, got, strict=True)
    )
