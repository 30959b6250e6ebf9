"""The fleet service under test: its fleet.toml, replicas in-process, kiosks of a swarm, and
waiting on what the service did (events, never sleeps)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from fleet.config import FleetConfig, parse_config
from fleet.service.process import FleetService
from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.swarm import SwarmKiosk, start_swarm
from tests.mqtt.fixtures import Certs

WAIT = 15.0


def service_config(
    tmp_path: Path,
    broker: MosquittoBroker,
    certs: Certs,
    *,
    client_id: str = "fleet-test-1",
    dsn: str | None = None,
    **sections: dict[str, Any],
) -> FleetConfig:
    """fleet.toml of a replica: its own service certificate, the store (SQLite in tmp_path, or
    PostgreSQL at `dsn`), and any further sections."""
    service = broker.issue_service()
    store: dict[str, Any] = {"path": str(tmp_path / "fleet.sqlite3")}
    if dsn is not None:
        store = {"dsn": dsn}
    data: dict[str, Any] = {
        "admin": {"signing_key": str(tmp_path / "unused-signing-key.pem")},
        "broker": {
            "host": broker.host,
            "port": broker.admin_port,
            "ca_file": str(certs.pki.server_ca.cert),
            "cert_file": str(certs.admin.cert),
            "key_file": str(certs.admin.key),
        },
        "store": store,
        "service": {
            "client_id": client_id,
            "cert_file": str(service.cert),
            "key_file": str(service.key),
            "batch_ms": 2.0,
        },
        "alerts": {"interval": 3600.0},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return parse_config(data, tmp_path)


async def start_service(config: FleetConfig, **options: Any) -> FleetService:
    """A started replica, subscribed at the broker."""
    options.setdefault("reconnect_min", 0.05)
    options.setdefault("reconnect_max", 0.5)
    service = FleetService(config, **options)
    await service.start()
    await service.wait_subscribed(WAIT)
    return service


async def kiosks(
    broker: MosquittoBroker, certs: Certs, count: int, prefix: str
) -> list[SwarmKiosk]:
    """`count` connected kiosks of a swarm (their own certificates)."""
    return await asyncio.to_thread(start_swarm, broker, certs.pki, count, prefix=prefix)


async def published(infos: Sequence[paho.MQTTMessageInfo]) -> None:
    """Wait for the broker's PUBACK of every message."""

    def wait() -> None:
        for info in infos:
            info.wait_for_publish(WAIT)

    await asyncio.to_thread(wait)


async def until_services(
    services: Sequence[FleetService], condition: Callable[[], bool], timeout: float = WAIT
) -> None:
    """Wait until `condition()` holds, checked after each batch any replica commits."""
    async with asyncio.timeout(timeout):
        while not condition():
            waits = []
            for s in services:
                s.changed.clear()
                waits.append(asyncio.ensure_future(s.changed.wait()))
            if condition():
                for w in waits:
                    w.cancel()
                return
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in pending:
                w.cancel()


async def until_async(
    condition: Callable[[], Awaitable[bool]], changed: asyncio.Event, timeout: float = WAIT
) -> None:
    """Wait until the awaited `condition()` holds, checked again each time `changed` is set."""
    async with asyncio.timeout(timeout):
        while not await condition():
            changed.clear()
            await changed.wait()


class WebhookReceiver:
    """The admins' alert endpoint: keeps each JSON body; answers 503 to the next `fail_next`."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail_next = 0
        self.changed = asyncio.Event()
        self._runner: Any = None
        self.url = ""

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> WebhookReceiver:
        """Listen on loopback (HTTPS with `ssl_context`)."""
        from aiohttp import web

        async def hook(request: web.Request) -> web.Response:
            self.attempts += 1
            body = await request.json()
            if self.fail_next > 0:
                self.fail_next -= 1
                self.changed.set()
                return web.Response(status=503)
            self.events.append(body)
            self.changed.set()
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/alerts", hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        scheme = "http" if ssl_context is None else "https"
        self.url = f"{scheme}://127.0.0.1:{port}/alerts"
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    def has(self, event: str, key: str) -> bool:
        """True once `event` (raised, cleared) of the alert `key` was received."""
        return any(e["event"] == event and e["key"] == key for e in self.events)

    async def wait(self, event: str, key: str, timeout: float = WAIT) -> dict[str, Any]:
        """The body of `event` of `key`, waiting for it."""
        async with asyncio.timeout(timeout):
            while not self.has(event, key):
                self.changed.clear()
                await self.changed.wait()
        return next(e for e in self.events if e["event"] == event and e["key"] == key)
