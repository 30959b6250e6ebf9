"""The fleet service under test: its fleet.toml, replicas in-process, kiosks of a swarm, and
waiting on what the service did (events, never sleeps)."""

from __future__ import annotations

import asyncio
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
