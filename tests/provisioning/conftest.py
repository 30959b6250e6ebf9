"""Fixtures: the fleet service's EST listener with the provisioning routes (a SQLite store, a
registered kiosk, a technician), a stand-in gateway health route that requires the kiosk's new
certificate, the kiosk's SoftHSM token, and fakes for the devices behind the binding and SAM
steps and the supervisor MCU."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import edge_agent.config
from common.tls import server_context
from common.token import TokenConfig
from edge_agent.config import (
    AgentConfig,
)
from fleet.ca.authority import CertificateAuthority
from fleet.ca.est import EstApi, est_context
from fleet.ca.issuer import Issuer
from fleet.ca.keys import load_certificate, load_pem_key
from fleet.ca.settings import EstSettings
from fleet.provisioning.handover import HandoverApi
from fleet.store.base import DeviceEntry, FleetStore
from fleet.store.sqlite import SqliteStore
from hardware.supervisor.errors import NakReason, SupervisorRefusedError
from kiosk_sim.pki import Issued, Pki, make_pki
from protocol.mcu_clear import clear_payload
from provisioning import cli
from provisioning.backends import Backends
from provisioning.selftest import TEST_CARD_NIK_SHA256
from tests.fleet.ca.conftest import INSTITUTION, KIOSK, SERIAL, Wall, _person

T = TypeVar("T")


@dataclass
class Fleet:
    """The running fleet side."""

    url: str
    pki: Pki
    store: FleetStore
    issuer: Issuer
    wall: Wall
    technician: Issued
    runner: web.AppRunner
    gateway_url: str = ""
    health_calls: int = 0
    sites: dict[str, web.TCPSite] = field(default_factory=dict)

    def technician_cert(self) -> x509.Certificate:
        """The technician's certificate."""
        return x509.load_pem_x509_certificate(self.technician.cert.read_bytes())

    async def stop(self, which: str) -> None:
        """Make the fleet service or the gateway unreachable (its port closed)."""
        await self.sites[which].stop()

    async def start(self, which: str) -> None:
        """Listen again on the same port."""
        site = self.sites[which]
        again = web.TCPSite(site._runner, "127.0.0.1", site._port, ssl_context=site._ssl_context)
        await again.start()
        self.sites[which] = again


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    """EST + handover routes on loopback, and a gateway health route for kiosk certificates."""
    pki = make_pki(tmp_path / "pki")
    wall = Wall()
    wall.now = dt.datetime.now(dt.UTC).timestamp()
    ca = CertificateAuthority(
        load_certificate(pki.device_ca.cert, "device CA"), load_pem_key(pki.device_ca.key, "ca")
    )
    issuer = Issuer(ca, days=30, key_origin="any", wall=wall)
    store = SqliteStore(tmp_path / "fleet.sqlite3")
    store.put_device(DeviceEntry(KIOSK, INSTITUTION, "33", serial=SERIAL))

    async def call(fn: Callable[[FleetStore], T]) -> T:
        return await asyncio.to_thread(fn, store)

    admin_ca = load_certificate(pki.admin_ca.cert, "admin CA")
    ctx = est_context(
        EstSettings("127.0.0.1", 0, pki.server.cert, pki.server.key), [ca.cert, admin_ca]
    )
    app = web.Application()
    EstApi(issuer, call, admin_ca=admin_ca).add_routes(app)
    HandoverApi(issuer, call, admin_ca=admin_ca).add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    fleet_site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await fleet_site.start()
    port = runner.addresses[0][1]
    technician = _person(pki, tmp_path, "tech-1", "technician")
    running = Fleet(f"https://localhost:{port}", pki, store, issuer, wall, technician, runner)

    async def health(request: web.Request) -> web.Response:
        running.health_calls += 1
        return web.json_response({"status": "ok"})

    gw = web.Application()
    gw.router.add_get("/v1/health", health)
    gw_runner = web.AppRunner(gw, access_log=None)
    await gw_runner.setup()
    gw_ctx = server_context(pki.server.cert, pki.server.key, [pki.device_ca.cert])
    gw_site = web.TCPSite(gw_runner, "127.0.0.1", 0, ssl_context=gw_ctx)
    await gw_site.start()
    running.gateway_url = f"https://localhost:{gw_runner.addresses[0][1]}"
    fleet_site._port, gw_site._port = port, gw_runner.addresses[0][1]
    running.sites = {"fleet": fleet_site, "gateway": gw_site}
    yield running
    await gw_runner.cleanup()
    await runner.cleanup()
    store.close()


@dataclass
class FakeMcu:
    """The supervisor MCU's link as the tool uses it."""

    key: bytes | None = None
    enclosure_open: bool = False
    latched: bool = False
    tamper_seq: int = 0
    clear_counter: int = 0
    heartbeats: int = 0
    patterns: list[str] = field(default_factory=list)
    silent: bool = False

    def hello(self) -> Any:
        return self.request_status()

    def request_status(self) -> Any:
        if self.silent:
            from hardware.supervisor.errors import SupervisorTimeoutError

            raise SupervisorTimeoutError("no answer")
        return SimpleNamespace(
            key_set=self.key is not None,
            enclosure_open=self.enclosure_open,
            tamper_latched=self.latched,
            tamper_seq=self.tamper_seq,
            clear_counter=self.clear_counter,
        )

    def provision_key(self, key: bytes) -> None:
        if self.key is not None:
            raise SupervisorRefusedError("refused", NakReason.KEY_ALREADY_SET)
        self.key = key

    def send_heartbeat(self) -> None:
        self.heartbeats += 1

    def wait_heartbeats_acked(self, count: int, timeout: float) -> bool:
        return self.heartbeats >= count

    def set_pattern(self, pattern: Any) -> None:
        self.patterns.append(str(pattern))

    def buzzer(self, duration_ms: int) -> None:
        self.patterns.append("buzzer")

    def send_clear(self, payload: bytes) -> None:
        assert self.key is not None
        counter = int.from_bytes(payload[:4], "big")
        if (
            payload == clear_payload(self.key, counter, self.tamper_seq)
            and counter > self.clear_counter
        ):
            self.latched, self.clear_counter = False, counter


class ScriptedPrompter:
    """The technician: opens and closes the enclosure when told, answers yes (or `answer`)."""

    def __init__(self, mcu: FakeMcu, answer: bool = True) -> None:
        self.mcu = mcu
        self.answer = answer
        self.asked: list[str] = []

    def confirm(self, question_id: str, question_en: str) -> bool:
        self.asked.append(question_en)
        return self.answer

    def wait(self, instruction_id: str, instruction_en: str) -> None:
        self.asked.append(instruction_en)
        if instruction_en.startswith("Open"):
            self.mcu.enclosure_open, self.mcu.latched = True, True
            self.mcu.tamper_seq += 1
        elif instruction_en.startswith("Close"):
            self.mcu.enclosure_open = False


@dataclass
class FakeInventory:
    """What provisioning.binding.read_inventory answers (protocol.inventory.Inventory's shape)."""

    reader_serial: str = "RDR-0001"
    sam_serial: str = "SAM-0001"
    sam_activated: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "reader_name": "Virtual PCD 00 00",
            "reader_serial": self.reader_serial,
            "sam_serial": self.sam_serial,
            "sam_activated": self.sam_activated,
            "sensor_serial": "FPM-0001",
            "sensor_params": {"capacity": 300},
            "mcu_id": "MCU-0001",
        }


@dataclass
class Kiosk:
    """A kiosk ready to be provisioned: its config, fakes, and how to run the tool."""

    config_file: Path
    config: AgentConfig
    token: TokenConfig
    fleet: Fleet
    mcu: FakeMcu
    prompter: ScriptedPrompter
    backends: Backends
    registered: list[dict[str, Any]] = field(default_factory=list)
    wall: Callable[[], float] = time.time  # the kiosk's clock

    def args(self, command: str, *extra: str) -> argparse.Namespace:
        """Parsed arguments of one command (JSON output)."""
        tech = self.fleet.technician
        common = ["--representative", "PEG-000123", "--technician-cert", str(tech.cert)]
        common += ["--technician-key", str(tech.key)]
        if command == "install":
            common += ["--serial", SERIAL, "--location", "Kantor Cabang Semarang"]
            common += ["--confirm-indicators"]
        if command in ("status", "exit-codes"):
            common = []
        argv = ["--config", str(self.config_file), "--json", command, *common, *extra]
        return cli.build_parser().parse_args(argv)

    async def run(self, command: str, *extra: str, **over: Any) -> tuple[int, list[dict[str, Any]]]:
        """Run the tool; (exit code, its JSON Lines)."""
        out = io.StringIO()
        backends = replace(self.backends, **over) if over else self.backends
        code = await cli.run(
            self.args(command, *extra),
            backends=backends,
            prompt=self.prompter,
            stream=out,
            wall=self.wall,
        )
        return code, [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture
def kiosk(tmp_path: Path, fleet: Fleet, softhsm_token: TokenConfig, token_provider: Path) -> Kiosk:
    """The kiosk KIOSK (serial SERIAL) with nothing provisioned yet."""
    state_dir, identity_dir = tmp_path / "state", tmp_path / "identity"
    admin_key = tmp_path / "admin-ed25519.pub"
    admin_key.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    config_file = tmp_path / "agent.toml"
    config_file.write_text(
        f"""
[device]
id = "{KIOSK}"

[reader]
reader_id = "RDR-0001"
sam_id = "SAM-0001"

[gateway]
url = "{fleet.gateway_url}"
ca_file = "{fleet.pki.server_ca.cert}"

[identity]
token_module = "{softhsm_token.module}"
token_label = "{softhsm_token.label}"
pin_file = "{softhsm_token.pin_file}"
est_url = "{fleet.url}/.well-known/est"
est_ca_file = "{fleet.pki.server_ca.cert}"
institution = "{INSTITUTION}"
serial = "{SERIAL}"
dir = "{identity_dir}"

[mqtt]
host = "localhost"
ca_file = "{fleet.pki.server_ca.cert}"

[admin]
public_keys = ["{admin_key}"]

[state]
dir = "{state_dir}"

[supervisor]
port = "/dev/null"
heartbeat_interval = 0.2
"""
    )
    config = edge_agent.config.load_config(config_file)
    mcu = FakeMcu()
    registered: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def supervisor(config: AgentConfig) -> Iterator[FakeMcu]:
        yield mcu

    def register(url: str, ctx: Any, device: str, inv: FakeInventory) -> None:
        registered.append(inv.as_json())

    backends = Backends(
        pcscd_ready=lambda: True,
        disk_usage=lambda path: (10 * 2**30, 32 * 2**30),
        temperature=lambda: 48.0,
        read_inventory=lambda config: FakeInventory(),
        register_inventory=register,
        bind_sam=lambda config, token: SimpleNamespace(as_json=lambda: {"sam_bound": "SAM-0001"}),
        unbind_sam=lambda config, token: True,
        supervisor=supervisor,
        test_card=lambda config: TEST_CARD_NIK_SHA256,
        test_finger=lambda config: True,
        broker_round_trip=lambda config, ctx: 3.0,
    )
    k = Kiosk(
        config_file, config, softhsm_token, fleet, mcu, ScriptedPrompter(mcu), backends, registered
    )
    return k


def steps_of(lines: list[dict[str, Any]], event: str) -> list[str]:
    """The steps of one kind of event in the tool's JSON Lines."""
    return [line["step"] for line in lines if line["event"] == event]


def failure(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The error of the failed step."""
    found = [line["error"] for line in lines if line["event"] == "failed"]
    assert found, lines
    error: dict[str, Any] = found[0]
    return error


__all__ = [
    "INSTITUTION",
    "KIOSK",
    "SERIAL",
    "FakeInventory",
    "Fleet",
    "Kiosk",
    "failure",
    "steps_of",
]
