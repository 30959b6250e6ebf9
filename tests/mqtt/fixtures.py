"""Shared fixtures and helpers of the MQTT, remote-control and fleet tests: a throwaway PKI, a
real mosquitto per test, recording subscribers, and the agent in-process on fake devices.

Import the fixtures into a conftest: `from tests.mqtt.fixtures import broker, certs  # noqa`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from common.tls import client_context
from edge_agent.config import (
    AdminConfig,
    AgentConfig,
    DeviceConfig,
    GatewayConfig,
    MqttConfig,
    ReaderConfig,
    StateConfig,
    TimeoutsConfig,
    UiConfig,
)
from edge_agent.session.screens import ScreenName
from edge_agent.uplink.mqtt import Message, MqttClient, MqttOptions
from edge_agent.wiring.app import Agent
from hardware.card.reader import CardEvent, CardEventKind
from hardware.fingerprint.packet import MatchResult
from kiosk_sim.broker import ADMIN_CN, MosquittoBroker
from kiosk_sim.device_token import device_env
from kiosk_sim.pki import Issued, Pki, make_pki
from protocol.elements import DataElement
from protocol.mqtt import Channel, topic
from protocol.outcomes import Outcome
from protocol.signed import public_pem
from simulators.personas import PERSONAS, Persona
from tests.clock import FakeClock
from tests.edge_agent.fakes import (
    FakeCard,
    FakeFinger,
    FakeGatewayPort,
    Recorder,
    card_of,
)
from tests.remote.keys import ADMIN

WAIT = 10.0  # seconds a test waits for something that should happen soon
DEVICE = "KIOSK-A1"
OTHER_DEVICE = "KIOSK-B1"
RESULT_DISPLAY = 8.0


@dataclass
class Certs:
    """The PKI and the certificates of the tests."""

    pki: Pki
    devices: dict[str, Issued]
    admin: Issued
    admin_key: Path  # Ed25519 public key file pinned by the kiosks (tests.remote.keys.ADMIN)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A PKI with two kiosks and one admin."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is missing: run scripts/install-debian-packages.sh")
    folder = tmp_path_factory.mktemp("pki")
    pki = make_pki(folder)
    devices = {d: pki.issue_device(d, "perpus-a") for d in (DEVICE, OTHER_DEVICE)}
    admin_key = folder / "admin-ed25519.pub"
    admin_key.write_bytes(public_pem(ADMIN.public_key()))
    return Certs(pki, devices, pki.issue_admin(ADMIN_CN), admin_key)


@pytest.fixture
def broker(tmp_path: Path, certs: Certs) -> Iterator[MosquittoBroker]:
    """A fresh mosquitto for one test (its own persistence)."""
    with MosquittoBroker(tmp_path / "broker", certs.pki) as running:
        yield running


def client_options(
    endpoint_port: int, client_id: str, issued: Issued, certs: Certs, **over: Any
) -> MqttOptions:
    """Options of a test client: quick reconnects, short timeouts."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": endpoint_port,
        "client_id": client_id,
        "ssl_context": client_context(certs.pki.server_ca.cert, issued.cert, issued.key),
        "keepalive": 10,
        "session_expiry": 3600,
        "connect_timeout": 3.0,
        "reconnect_min": 0.05,
        "reconnect_max": 0.3,
        "request_timeout": 5.0,
    }
    values.update(over)
    return MqttOptions(**values)


class Watcher:
    """A subscriber that records every message and lets a test wait for one."""

    def __init__(self, options: MqttOptions, filters: list[tuple[str, int]]) -> None:
        self.filters = filters
        self.messages: list[Message] = []
        self.subscribed = asyncio.Event()
        self._changed = asyncio.Event()
        self.client = MqttClient(options, on_connect=self._connected, on_message=self._message)

    async def _connected(self, session_present: bool) -> None:
        await self.client.subscribe(self.filters)
        self.subscribed.set()

    async def _message(self, message: Message) -> None:
        self.messages.append(message)
        self._changed.set()

    async def start(self) -> Watcher:
        """Connect and subscribe."""
        await self.client.start()
        async with asyncio.timeout(WAIT):
            await self.subscribed.wait()
        return self

    async def stop(self) -> None:
        """Disconnect."""
        await self.client.stop()

    async def wait_for(
        self, match: Callable[[Message], bool], timeout: float = WAIT, start: int = 0
    ) -> Message:
        """The first message from index `start` on that matches (waiting for it)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for msg in self.messages[start:]:
                        if match(msg):
                            return msg
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            seen = [(m.topic, m.payload[:80]) for m in self.messages[start:]]
            raise AssertionError(f"no matching message within {timeout:g} s; seen {seen}") from None

    def on(self, channel: Channel, device: str = DEVICE) -> list[Message]:
        """The messages on one channel of one device."""
        wanted = topic(device, channel)
        return [m for m in self.messages if m.topic == wanted]


@pytest.fixture
async def watch(broker: MosquittoBroker, certs: Certs) -> AsyncIterator[Callable[..., Any]]:
    """watch(filters, client_id=...) -> a started admin Watcher (stopped at teardown)."""
    started: list[Watcher] = []

    async def make(
        filters: list[tuple[str, int]] | None = None, client_id: str = "test-watcher", **over: Any
    ) -> Watcher:
        options = client_options(broker.admin_port, client_id, certs.admin, certs, **over)
        w = Watcher(options, filters or [("kiosk/#", 1)])
        started.append(w)
        return await w.start()

    yield make
    for w in started:
        await w.stop()


# --- the agent in-process --------------------------------------------------------------------


def agent_config(
    folder: Path, certs: Certs, broker: MosquittoBroker, device: str = DEVICE, **mqtt: Any
) -> AgentConfig:
    """An agent configuration with [mqtt], [admin] and [state] (gateway files only for TLS)."""
    issued = certs.devices[device]
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": broker.port,
        "keepalive": 10,
        "connect_timeout": 3.0,
        "reconnect_min": 0.05,
        "reconnect_max": 0.3,
        "session_expiry": 3600,
        "health_interval": 3600.0,
        "probe_interval": 3600.0,
    }
    settings.update(mqtt)
    return AgentConfig(
        device=DeviceConfig(device),
        reader=ReaderConfig("RDR-0001", "SAM-0001"),
        gateway=GatewayConfig(
            url="https://127.0.0.1:9",
            ca_file=certs.pki.server_ca.cert,
            cert_file=issued.cert,
            key_file=issued.key,
        ),
        timeouts=TimeoutsConfig(result_display=RESULT_DISPLAY),
        ui=UiConfig(port=0),
        mqtt=MqttConfig(**settings),
        admin=AdminConfig((certs.admin_key,)),
        state=StateConfig(folder, province="33"),
    )


@dataclass
class Kiosk:
    """An agent in-process on fake devices, and what drives it."""

    agent: Agent
    card: FakeCard
    finger: FakeFinger
    gateway: FakeGatewayPort
    clock: FakeClock
    screens: Recorder
    leds: list[str] = field(default_factory=list)

    async def ready(self, count: int = 1) -> None:
        """Wait until the uplink has set up `count` connections in all."""
        uplink = self.agent.uplink
        assert uplink is not None
        await uplink.wait_ready(count, WAIT)

    async def begin(self, persona: Persona = PERSONAS["ayu"]) -> None:
        """A citizen inserts a card: the session waits for a finger."""
        self.card.feed(card_of(persona))
        self.agent.session.on_card_event(CardEvent(CardEventKind.INSERTED, "slot"))
        await self.screens.expect(ScreenName.FINGER)

    async def begin_query(self, persona: Persona = PERSONAS["ayu"]) -> None:
        """A citizen's finger matched; the gateway holds its answer (the session is querying)."""
        self.gateway.hold()
        await self.begin(persona)
        self.finger.feed(MatchResult(True, 120))
        await self.screens.expect(ScreenName.QUERYING)

    async def verify(self, persona: Persona = PERSONAS["ayu"]) -> Outcome:
        """One whole verification with the gateway answering FOUND; back to idle."""
        self.gateway.answer(Outcome.FOUND, {DataElement.FULL_NAME: persona.full_name})
        await self.begin(persona)
        self.finger.feed(MatchResult(True, 120))
        await self.screens.expect(ScreenName.RESULT, Outcome.FOUND)
        await self.clock.wait_sleeping(RESULT_DISPLAY)
        self.clock.advance(RESULT_DISPLAY)
        await self.screens.expect(ScreenName.IDLE)
        self.agent.session.on_card_event(CardEvent(CardEventKind.REMOVED, "slot"))
        return Outcome.FOUND


class LedLog:
    """An IndicatorPort that keeps every pattern."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def show(self, pattern: str) -> None:
        self.shown.append(pattern)


@contextlib.asynccontextmanager
async def running_kiosk(
    config: AgentConfig, observers: tuple[Any, ...] = (), **parts: Any
) -> AsyncIterator[Kiosk]:
    """Start an agent on fake devices (plus `observers` of its screens); stop it at the end."""
    card, finger, gateway = FakeCard(), FakeFinger(), FakeGatewayPort()
    clock, screens, leds = FakeClock(), Recorder(), LedLog()
    agent = Agent(
        config,
        card=card,
        finger=finger,
        gateway=gateway,
        indicators=leds,
        clock=clock,
        serve_ui=False,
        env={},
        observers=(screens, *observers),
        **parts,
    )
    await agent.start()
    kiosk = Kiosk(agent, card, finger, gateway, clock, screens, leds.shown)
    try:
        yield kiosk
    finally:
        card.release()
        finger.release()
        gateway.release.set()
        await agent.stop()


def write_agent_toml(
    folder: Path, certs: Certs, broker: MosquittoBroker, device: str = DEVICE
) -> Path:
    """agent.toml for an agent in a child process (tests.mqtt.agent_proc)."""
    issued = certs.devices[device]
    folder.mkdir(parents=True, exist_ok=True)
    text = f"""\
[device]
id = "{device}"

[reader]
reader_id = "RDR-0001"
sam_id = "SAM-0001"

[gateway]
url = "https://127.0.0.1:9"
ca_file = "{certs.pki.server_ca.cert}"
cert_file = "{issued.cert}"
key_file = "{issued.key}"

[timeouts]
result_display = {RESULT_DISPLAY}

[ui]
port = 0

[mqtt]
host = "127.0.0.1"
port = {broker.port}
keepalive = 10
connect_timeout = 3.0
reconnect_min = 0.05
reconnect_max = 0.3
session_expiry = 3600
health_interval = 3600.0
probe_interval = 3600.0

[admin]
public_keys = ["{certs.admin_key}"]

[state]
dir = "{folder / "state"}"
province = "33"
"""
    path = folder / "agent.toml"
    path.write_text(text)
    return path


class AgentProcess:
    """tests.mqtt.agent_proc as a child process."""

    def __init__(self, config: Path, *args: str) -> None:
        self.config = config
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.conn_id: str | None = None

    async def start(self) -> AgentProcess:
        """Start and wait for READY (its connection id)."""
        root = Path(__file__).resolve().parents[2]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.mqtt.agent_proc",
            str(self.config),
            *self.args,
            cwd=root,
            env={**os.environ, **device_env()},  # the kiosk's key is in the devices token
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        line = await self.expect("READY")
        self.conn_id = line.split()[1]
        return self

    async def expect(self, word: str, timeout: float = 20.0) -> str:
        """The next line starting with `word` (AssertionError if the child ends first)."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"the agent process ended before {word}")
                if raw.decode().startswith(word):
                    return raw.decode().strip()

    async def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def terminate(self) -> int:
        """SIGTERM, wait for the exit status."""
        assert self.proc is not None
        self.proc.terminate()
        async with asyncio.timeout(WAIT):
            return await self.proc.wait()
