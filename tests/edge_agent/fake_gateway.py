"""A gateway stand-in for the link tests: a real aiohttp HTTPS server on loopback, mTLS."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from protocol.messages import error_body


@dataclass
class Seen:
    """One request as the server saw it."""

    body: dict[str, Any]
    request_id_header: str | None
    client_cn: str | None
    peer_port: int
    resumed: bool


@dataclass
class FakeGateway:
    """Answers from a script: each entry is how to treat the next request."""

    script: deque[tuple[str, Any]] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    def answer(self, outcome: str, elements: dict[str, str] | None = None) -> None:
        """Answer the next request with an outcome (and elements)."""
        self.script.append(("answer", (outcome, elements or {})))

    def then(self, kind: str, arg: Any = None) -> None:
        """Next request: 'drop' the connection, 'status' N, 'raw' bytes, 'hang', 'close'."""
        self.script.append((kind, arg))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        transport = request.transport
        assert transport is not None
        ssl_object = transport.get_extra_info("ssl_object")
        peercert = transport.get_extra_info("peercert") or {}
        cn = next(
            (v for rdn in peercert.get("subject", ()) for k, v in rdn if k == "commonName"), None
        )
        self.seen.append(
            Seen(
                body=body,
                request_id_header=request.headers.get("X-Request-Id"),
                client_cn=cn,
                peer_port=transport.get_extra_info("peername")[1],
                resumed=bool(ssl_object.session_reused),
            )
        )
        kind, arg = self.script.popleft() if self.script else ("answer", ("FOUND", {}))
        if kind == "drop":
            transport.close()
            return web.Response(status=500)
        if kind == "status":
            return web.json_response(error_body("INTERNAL", "boom"), status=arg)
        if kind == "refuse":
            return web.json_response(error_body("DEVICE_DEACTIVATED", "refused"), status=403)
        if kind == "raw":
            return web.Response(body=arg, content_type="application/json")
        if kind == "hang":
            await self.release.wait()
            return web.Response(status=503)
        outcome, elements = arg if kind == "answer" else ("FOUND", {})
        answer: dict[str, Any] = {
            "request_id": body["request_id"],
            "outcome": outcome,
            "text": {"id": "x", "en": "x"},
        }
        if elements:
            answer["elements"] = elements
        headers = {"Connection": "close"} if kind == "close" else None
        return web.Response(
            body=json.dumps(answer).encode(), content_type="application/json", headers=headers
        )


async def start_gateway(ctx: ssl.SSLContext) -> tuple[FakeGateway, web.AppRunner]:
    """Serve a FakeGateway on 127.0.0.1 with `ctx`; the caller cleans up the runner."""
    fake = FakeGateway()
    app = web.Application()
    app.router.add_post("/v1/verifications", fake.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    server = site._server
    assert server is not None
    fake.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return fake, runner
