"""The agent wired in one process: fake devices, the real gateway link over TLS, the real page."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from edge_agent.cli import main
from edge_agent.config import (
    AgentConfig,
    DeviceConfig,
    FingerprintConfig,
    GatewayConfig,
    ReaderConfig,
    TimeoutsConfig,
    UiConfig,
)
from edge_agent.errors import StartupError
from edge_agent.hygiene import install_log_filter
from edge_agent.session.report import SessionReport
from edge_agent.session.screens import ScreenName
from edge_agent.wiring.app import Agent
from edge_agent.wiring.run import run_agent
from hardware.card.reader import CardEvent, CardEventKind
from hardware.fingerprint.packet import MatchResult
from protocol.outcomes import Outcome
from simulators.personas import PERSONAS
from tests.clock import FakeClock
from tests.edge_agent.certs import Pki, make_pki
from tests.edge_agent.fake_gateway import FakeGateway, start_gateway
from tests.edge_agent.fakes import FakeCard, FakeFinger, Recorder, card_of

AYU = PERSONAS["ayu"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def gateway(pki: Pki) -> AsyncIterator[FakeGateway]:
    fake, runner = await start_gateway(pki.server_context())
    yield fake
    fake.release.set()
    await runner.cleanup()


def _config(pki: Pki, port: int) -> AgentConfig:
    return AgentConfig(
        device=DeviceConfig(pki.device_id),
        reader=ReaderConfig("RDR-0001", "SAM-0001"),
        gateway=GatewayConfig(
            url=f"https://127.0.0.1:{port}",
            ca_file=pki.ca.path,
            cert_file=pki.client.cert,
            key_file=pki.client.key,
        ),
        timeouts=TimeoutsConfig(card_read=10, finger_wait=20, query=25, result_display=8),
        ui=UiConfig(port=0, voice=False),
    )


@pytest.fixture
def notify(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)
    return sock


async def _recv(sock: socket.socket) -> bytes:
    async with asyncio.timeout(5):
        return await asyncio.get_running_loop().sock_recv(sock, 4096)


async def test_agent_runs_a_verification_end_to_end(
    pki: Pki, gateway: FakeGateway, notify: socket.socket, tmp_path: Path
) -> None:
    card, finger, clock, screens = FakeCard(), FakeFinger(), FakeClock(), Recorder()
    reports: list[SessionReport] = []
    gateway.answer("FOUND", {"nama_lengkap": AYU.full_name})
    agent = Agent(
        _config(pki, gateway.port),
        card=card,
        finger=finger,
        clock=clock,
        env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
        observers=(screens,),
        on_finished=reports.append,
    )
    lines: list[str] = []
    handler = _ListHandler(lines)
    nik_filter = install_log_filter(handler)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    await agent.start()
    try:
        assert (await _recv(notify)).startswith(b"READY=1\nSTATUS=ready in ")
        assert agent.started_in is not None and agent.started_in < 2.0
        assert agent.ui_url is not None
        async with aiohttp.ClientSession() as http:
            async with http.get(agent.ui_url + "healthz") as resp:
                assert (await resp.json())["screen"] == "idle"
            async with http.get(agent.ui_url) as resp:
                assert resp.status == 200
                assert "Content-Security-Policy" in resp.headers

        # The monitor thread reports the card: the event enters the loop thread-safely.
        assert card.callback is not None
        card.feed(card_of(AYU))
        finger.feed(MatchResult(True, 91))
        monitor = threading.Thread(
            target=card.callback, args=(CardEvent(CardEventKind.INSERTED, "slot"),)
        )
        monitor.start()
        monitor.join(5)
        await screens.expect(ScreenName.NOTICE)  # the agent serves a page: the privacy notice
        assert agent.session.accept_notice()
        result = await screens.expect(ScreenName.RESULT, Outcome.FOUND)
        assert result.to_message()["elements"] == [["nama_lengkap", AYU.full_name]]
        assert gateway.seen[0].client_cn == pki.device_id
        assert gateway.seen[0].body["match"] == {"finger": "right_index", "score": 91, "tries": 1}
        await clock.wait_sleeping(8)
        clock.advance(8)
        await screens.expect(ScreenName.IDLE)
        assert agent.counter.snapshot() == {"FOUND": 1}
        assert reports[0].own < 0.025  # the agent's own time, the bench's figure
    finally:
        card.release()
        finger.release()
        await agent.stop()
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert await _recv(notify) == b"STOPPING=1"
    text = "\n".join(lines)
    assert "session done outcome=FOUND" in text
    assert nik_filter.hits == 0  # the last-resort filter never had to mask anything
    for secret in (AYU.nik, AYU.full_name, AYU.kk_number, AYU.address):
        assert secret not in text
    assert card.stopped
    assert agent.link is not None and agent.link.stats.requests == 1


async def test_missing_fingerprint_port_is_a_startup_error(pki: Pki, tmp_path: Path) -> None:
    config = dataclasses.replace(
        _config(pki, 1), fingerprint=FingerprintConfig(port=str(tmp_path / "no-such-tty"))
    )
    agent = Agent(config, card=FakeCard(), serve_ui=False)
    with pytest.raises(StartupError, match="SensorPortError"):
        await agent.start()


async def test_ui_port_in_use_is_a_startup_error(pki: Pki) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        card = FakeCard()
        agent = Agent(_config(pki, 1), card=card, finger=FakeFinger(), ui_port=port)
        with pytest.raises(StartupError, match="kiosk page"):
            await agent.start()
    assert card.callback is None


async def test_run_agent_until_stopped(pki: Pki, gateway: FakeGateway) -> None:
    stop = asyncio.Event()
    card = FakeCard()
    task = asyncio.create_task(
        run_agent(_config(pki, gateway.port), stop=stop, card=card, finger=FakeFinger())
    )
    assert await asyncio.to_thread(card.monitoring.wait, 5)  # started: the monitor is on
    stop.set()
    await asyncio.wait_for(task, 5)
    assert card.stopped


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _write_config(tmp_path: Path, pki: Pki, device_id: str, *, identity: bool = True) -> Path:
    path = tmp_path / "agent.toml"
    files = f"""cert_file = "{pki.client.cert}"
key_file = "{pki.client.key}"
"""
    section = ""
    if identity:  # the key in a token (SoftHSM's module): the certificate made at the start
        files = ""
        module = Path("/usr/lib/softhsm/libsofthsm2.so")
        pin = tmp_path / "token.pin"
        pin.write_text("1234")
        section = f"""[identity]
token_module = "{module}"
token_label = "kiosk"
pin_file = "{pin}"
est_url = "https://127.0.0.1:8445/.well-known/est"
est_ca_file = "{pki.ca.path}"
institution = "perpus-a"
dir = "{tmp_path / "identity"}"
"""
    path.write_text(
        f"""
[device]
id = "{device_id}"
[reader]
reader_id = "RDR-0001"
sam_id = "SAM-0001"
[gateway]
url = "https://127.0.0.1:8443"
ca_file = "{pki.ca.path}"
{files}{section}"""
    )
    return path


def test_check_config_ok(pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_config(tmp_path, pki, pki.device_id)
    assert main(["--config", str(path), "--check-config"]) == 0
    assert "configuration OK" in capsys.readouterr().out


def test_the_agent_refuses_to_start_without_a_token_module(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_config(tmp_path, pki, pki.device_id, identity=False)
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"kiosk-agent: error: {path}: identity: section is required")
    assert "does not start without a token module" in err


def test_check_config_names_the_bad_key(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_config(tmp_path, pki, "kiosk-other")
    (tmp_path / "identity").mkdir()
    (tmp_path / "identity" / "device.crt").write_bytes(pki.client.cert.read_bytes())
    assert main(["--config", str(path), "--check-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"kiosk-agent: error: {path}: device.id: ")
    assert len(err.splitlines()) == 1
