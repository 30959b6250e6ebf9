"""Fixtures of the gateway tests: a throwaway PKI, a real redis-server, the Dukcapil simulator,
gateways started in-process on uvloop, and kiosk/admin clients with real TLS.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
import uvloop

from common.clock import Clock
from gateway.config import parse_config
from gateway.server import RunningGateway, start_gateway
from kiosk_sim.pki import Issued, Pki, make_pki
from simulators.dukcapil import RunningDukcapilSim, SimUser, start_dukcapil_sim

# Institutions of the tests: A (WIB, before PoC, 6 elements), B (WITA, PoC approved, 9
# elements), C (WIT, PoC approved).
ELEMENTS_A = ["nik", "nama_lengkap", "jenis_kelamin", "tempat_lahir", "tanggal_lahir", "pekerjaan"]
ELEMENTS_B = [
    "no_kk",
    "nik",
    "nama_lengkap",
    "alamat",
    "rt",
    "rw",
    "nama_kelurahan",
    "nama_kecamatan",
    "status_kawin",
]
USERS = {
    "perpus-a": ("PERPUS-A", "sandi-perpus-a"),
    "dinsos-b": ("DINSOS-B", "sandi-dinsos-b"),
    "dukcapil-c": ("DUKCAPIL-C", "sandi-dukcapil-c"),
}
READERS = {"KIOSK-A1": ("RDR-A1", "SAM-A1")}


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Any]:
    """Gateway tests run on uvloop, as the gateway does in production."""
    return {"uvloop": uvloop.new_event_loop}


def new_request_id() -> str:
    """A fresh request id (32 hex digits)."""
    return secrets.token_hex(16)


@dataclass
class Certs:
    """The PKI and the certificates the tests use."""

    pki: Pki
    devices: dict[str, Issued]
    admin: Issued
    expired: Issued
    not_yet_valid: Issued
    foreign: Issued
    foreign_admin: Issued
    revoked: Issued
    no_institution: Issued


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    import datetime as dt

    pki = make_pki(tmp_path_factory.mktemp("pki"))
    now = dt.datetime.now(dt.UTC)
    day = dt.timedelta(days=1)
    devices = {
        "KIOSK-A1": pki.issue_device("KIOSK-A1", "perpus-a"),
        "KIOSK-A2": pki.issue_device("KIOSK-A2", "perpus-a"),
        "KIOSK-B1": pki.issue_device("KIOSK-B1", "dinsos-b"),
        "KIOSK-C1": pki.issue_device("KIOSK-C1", "dukcapil-c"),
    }
    revoked = pki.issue_device("KIOSK-A9", "perpus-a")
    pki.revoke(revoked)
    return Certs(
        pki=pki,
        devices=devices,
        admin=pki.issue_admin("admin-1"),
        expired=pki.issue_device(
            "KIOSK-A1", "perpus-a", not_before=now - 30 * day, not_after=now - day
        ),
        not_yet_valid=pki.issue_device(
            "KIOSK-A1", "perpus-a", not_before=now + day, not_after=now + 30 * day
        ),
        foreign=pki.issue_device("KIOSK-A1", "perpus-a", foreign=True),
        foreign_admin=pki.issue_admin("admin-1", foreign=True),
        revoked=revoked,
        no_institution=pki.issue_device("KIOSK-X1", "no-such-institution"),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is missing: run scripts/install-debian-packages.sh")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(workdir), "--protected-mode", "yes", "--loglevel", "notice"]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Ready to accept connections" in line:
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(15):
        proc.kill()
        pytest.fail("redis-server did not become ready")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The test Redis, emptied."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server


@pytest.fixture(params=["sqlite", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Run a test on both stores."""
    return str(request.param)


@pytest.fixture
async def sim() -> AsyncIterator[RunningDukcapilSim]:
    users = [SimUser(u, p, inst) for inst, (u, p) in USERS.items()]
    running = await start_dukcapil_sim(users=users)
    yield running
    await running.close()


def base_config(
    tmp: Path, certs: Certs, upstream_url: str, store: str, redis_url: str | None
) -> dict[str, Any]:
    """A config document for the test institutions (antiscrape bursts off)."""
    secrets_dir = tmp / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    for inst, (_, password) in USERS.items():
        (secrets_dir / f"{inst}.password").write_text(password + "\n")
    pki = certs.pki
    store_cfg: dict[str, Any] = {"kind": store, "usage_flush_s": 0.05, "refresh_s": 0.2}
    if store == "sqlite":
        store_cfg["path"] = str(tmp / "state" / "gateway.sqlite3")
    else:
        store_cfg["url"] = redis_url
    return {
        "server": {"host": "127.0.0.1", "port": 0},
        "tls": {
            "cert": str(pki.server.cert),
            "key": str(pki.server.key),
            "device_ca": str(pki.device_ca.cert),
            "admin_ca": str(pki.admin_ca.cert),
            "device_crl": str(pki.device_crl),
        },
        "store": store_cfg,
        "upstream": {"url": upstream_url, "timeout_s": 2.0, "connections": 16},
        "antiscrape": {"burst_limit": 0, "device_burst_limit": 0},
        "institutions": {
            "perpus-a": {
                "name": "Perpustakaan A",
                "province": "33",
                "upstream_user": USERS["perpus-a"][0],
                "upstream_password_file": "secrets/perpus-a.password",
                "elements": ELEMENTS_A,
            },
            "dinsos-b": {
                "name": "Dinas Sosial B",
                "province": "73",
                "upstream_user": USERS["dinsos-b"][0],
                "upstream_password_file": "secrets/dinsos-b.password",
                "elements": ELEMENTS_B,
                "poc_approved": True,
            },
            "dukcapil-c": {
                "name": "Layanan C",
                "province": "91",
                "upstream_user": USERS["dukcapil-c"][0],
                "upstream_password_file": "secrets/dukcapil-c.password",
                "elements": ["nik", "nama_lengkap"],
                "poc_approved": True,
            },
        },
        "devices": {"KIOSK-A1": {"reader_id": "RDR-A1", "sam_id": "SAM-A1"}},
    }


def to_toml(doc: dict[str, Any]) -> str:
    """A config document as TOML text (tables, strings, numbers, booleans, lists)."""
    lines: list[str] = []

    def emit(prefix: str, table: dict[str, Any]) -> None:
        if prefix:
            lines.append(f"[{prefix}]")
        for key, value in table.items():
            if not isinstance(value, dict):
                lines.append(f"{json.dumps(key)} = {json.dumps(value)}")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key), value)

    emit("", doc)
    return "\n".join(lines) + "\n"


MakeGateway = Callable[..., Awaitable[RunningGateway]]


@pytest.fixture
async def make_gateway(
    tmp_path: Path, certs: Certs, sim: RunningDukcapilSim, request: pytest.FixtureRequest
) -> AsyncIterator[MakeGateway]:
    """Start gateways: make_gateway(store=..., clock=..., mutate=fn(config dict))."""
    started: list[RunningGateway] = []

    async def make(
        store: str = "sqlite",
        clock: Clock | None = None,
        mutate: Callable[[dict[str, Any]], None] | None = None,
        upstream_url: str | None = None,
    ) -> RunningGateway:
        redis_url = request.getfixturevalue("redis_url") if store == "redis" else None
        data = base_config(tmp_path, certs, upstream_url or sim.url, store, redis_url)
        if mutate is not None:
            mutate(data)
        gw = await start_gateway(parse_config(data, tmp_path), clock=clock)
        started.append(gw)
        return gw

    yield make
    for gw in started:
        await gw.close()


@dataclass
class Client:
    """A kiosk or admin client with its own certificate and keep-alive connections."""

    session: aiohttp.ClientSession
    base: str
    reader: tuple[str, str] = ("RDR-X", "SAM-X")
    sent: list[str] = field(default_factory=list)

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(
            method, self.base + path, data=data, headers=headers
        ) as resp:
            text = await resp.read()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    def verification(self, nik: str, request_id: str | None = None) -> dict[str, Any]:
        return {
            "request_id": request_id or new_request_id(),
            "nik": nik,
            "match": {"finger": "right_index", "score": 180, "tries": 1},
            "reader": {"reader_id": self.reader[0], "sam_id": self.reader[1]},
        }

    async def verify(self, nik: str, request_id: str | None = None) -> tuple[int, Any]:
        return await self.request("POST", "/v1/verifications", self.verification(nik, request_id))


MakeClient = Callable[..., Client]


@pytest.fixture
async def make_client(certs: Certs) -> AsyncIterator[MakeClient]:
    """make_client(gateway, cert) → a Client; closed at teardown."""
    sessions: list[aiohttp.ClientSession] = []

    def make(gw: RunningGateway, cert: Issued | None, *, limit: int = 100) -> Client:
        ctx: ssl.SSLContext = certs.pki.client_context(cert)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=limit))
        sessions.append(session)
        reader = READERS.get(cert.name if cert else "", ("RDR-X", "SAM-X"))
        return Client(session, gw.url, reader)

    yield make
    for s in sessions:
        await s.close()


async def gather_limited(coros: list[Awaitable[Any]]) -> list[Any]:
    """Run coroutines concurrently."""
    return list(await asyncio.gather(*coros))
