"""The whole kiosk system on one machine, on loopback: `kiosk-sim up`.

Simulated devices (card and SAM behind the real pcscd, the fingerprint module on a pty), the
Dukcapil simulator, the real gateway with a throwaway platform PKI, and the real kiosk agent as
its own process (`python -m edge_agent`), whose readiness arrives as sd_notify READY=1 on a
socket of ours, exactly as systemd would see it. The fleet service (`kiosk-fleet serve`) runs as
its own process on the run folder's fleet.toml (kiosk_sim/fleet_service.py). The institution's
service for data balikan (a library's member registry) listens beside them
(kiosk_sim/institution.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from common.tls import load_token_provider
from common.token import TokenConfig
from gateway.config import parse_config
from gateway.server import RunningGateway, start_gateway
from kiosk_sim.agent_config import write_agent_config
from kiosk_sim.agent_ready import StackError as StackError  # re-exported
from kiosk_sim.agent_ready import await_ready
from kiosk_sim.alert_inbox import AlertInbox
from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.devices import SimulatedDevices
from kiosk_sim.enrolment import hand_enrolment_token, make_kiosk_token
from kiosk_sim.fleet_admin import FleetSetup
from kiosk_sim.fleet_service import FleetServiceProcess
from kiosk_sim.gateway_settings import gateway_settings
from kiosk_sim.institution import start_institution
from kiosk_sim.pki import Issued, Pki, make_pki
from kiosk_sim.sam_setup import bind_kiosk_sam
from kiosk_sim.softhsm import SoftHsm
from simulators.dukcapil import RunningDukcapilSim, SimUser, start_dukcapil_sim
from simulators.institution import RunningInstitutionSim
from simulators.mcu import McuSim

_log = logging.getLogger(__name__)

DEVICE_ID = "KIOSK-SIM-0001"
INSTITUTION = "perpus-sim"
UPSTREAM_USER = "PERPUS-SIM-01"
ELEMENTS = ["nik", "nama_lengkap", "jenis_kelamin", "tempat_lahir", "tanggal_lahir", "pekerjaan"]
READER_ID, SAM_ID = "RDR-SIM-0001", "SAM-SIM-0001"
SERIAL = "SN-SIM-0001"  # the kiosk's hardware serial: the username of its first enrolment


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The agent's step timeouts (seconds): long for a person at `up`, short for the demo."""

    card_read: float = 10.0
    finger_wait: float = 20.0
    query: float = 10.0
    result_display: float = 8.0
    balikan: float = 5.0  # the institution's service


DEMO_TIMEOUTS = Timeouts(card_read=5.0, finger_wait=3.0, query=5.0, result_display=0.5, balikan=2.0)


def free_port() -> int:
    """A free TCP port on loopback (the agent needs its UI port before it starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """Start, use and stop the whole simulated system."""

    def __init__(
        self,
        run_dir: Path,
        *,
        timeouts: Timeouts = Timeouts(),
        baud: int = 57600,
        cert_days: float = 30.0,
        bare: bool = False,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.bare = bare  # no certificate, no bindings, no agent: kiosk-provision's to do
        self.timeouts = timeouts
        self.baud = baud
        self.log_level = os.environ.get("KIOSK_SIM_AGENT_LOG_LEVEL", "INFO")
        self.devices = SimulatedDevices(self.run_dir / "devices", baud=baud)
        self.pki: Pki | None = None
        self.dukcapil: RunningDukcapilSim | None = None
        self.institution: RunningInstitutionSim | None = None  # data balikan
        self.gateway: RunningGateway | None = None
        self.gateway_port = 0
        self.ui_port = 0
        self.agent: subprocess.Popen[bytes] | None = None
        self.broker: MosquittoBroker | None = None
        self.fleet: FleetSetup | None = None
        self.fleet_service: FleetServiceProcess | None = None  # `kiosk-fleet serve`
        self.alerts: AlertInbox | None = None  # the admins' webhook: the service's alerts
        self.mcu: McuSim | None = None
        self.device: Issued | None = None
        self.agent_restarts = 0  # by the MCU's power relay
        self.rebooted = asyncio.Event()  # set when the MCU's power cycle restarted the agent
        self._power_cuts = 0
        self._restarted = asyncio.Condition()  # notified when a power cycle restarted the agent
        self._agent_wanted = False  # the agent should run (a power cut is then restored)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.agent_ready_seconds = 0.0  # from process start to READY=1, imports included
        self.agent_prefix: list[str] = []  # a command the agent runs under (a test's namespace)
        self._admin: Issued | None = None
        self._gateway_config: Any = None
        self.cert_days = cert_days  # life of the kiosk's certificates (the demo shortens it)
        self.softhsm: SoftHsm | None = None
        self.token: TokenConfig | None = None  # the kiosk's token: its key lives there only
        self.est_port = 0

    @property
    def ui_url(self) -> str:
        """The kiosk page."""
        return f"http://127.0.0.1:{self.ui_port}/"

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> Stack:
        """Bring everything up; on failure, take down what came up."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        loop = self._loop = asyncio.get_running_loop()
        try:
            self.pki = pki = await loop.run_in_executor(None, make_pki, self.run_dir / "pki")
            self._admin = pki.issue_admin("admin-sim")
            await loop.run_in_executor(None, self._make_token)
            await loop.run_in_executor(None, self.devices.start)
            self.broker = MosquittoBroker(self.run_dir / "broker", pki)
            await loop.run_in_executor(None, self.broker.start)
            self.dukcapil = await start_dukcapil_sim(
                users=[SimUser(UPSTREAM_USER, "sandi-simulasi", INSTITUTION)]
            )
            await self.start_gateway()
            self.institution = await start_institution(self.run_dir, pki)
            self.est_port = free_port()
            self.alerts = await AlertInbox().start()
            self.fleet = FleetSetup.create(
                self.run_dir / "fleet",
                pki,
                self.broker,
                gateway_url=f"https://127.0.0.1:{self.gateway_port}",
                est_port=self.est_port,
                cert_days=self.cert_days,
                webhook_url=self.alerts.url,
            )
            self.fleet_service = FleetServiceProcess(
                self.fleet.fleet_config, self.run_dir / "fleet" / "fleet-service.log"
            )
            await self.fleet_service.start()
            self.mcu = McuSim(
                self.run_dir / "mcu", on_power_off=self._power_off, on_power_on=self._power_on
            )
            await loop.run_in_executor(None, self.mcu.start)
            if self.bare:  # registered by an admin; kiosk_sim.install_scenario provisions it
                await self.register_kiosk()
                self.ui_port = free_port()
                write_agent_config(self)
            else:
                await self.technician_enrolment_token()
                self.ui_port = free_port()  # the SAM bound as kiosk-provision binds it
                await loop.run_in_executor(
                    None, bind_kiosk_sam, self.devices, write_agent_config(self), self.softhsm
                )
                await self.start_agent()
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        """Take everything down, agent first; safe to call twice."""
        await self.stop_agent()
        if self.fleet_service is not None:
            await self.fleet_service.stop()
        if self.alerts is not None:
            await self.alerts.stop()
        loop = asyncio.get_running_loop()
        if self.mcu is not None:
            await loop.run_in_executor(None, self.mcu.close)
            self.mcu = None
        if self.broker is not None:
            await loop.run_in_executor(None, self.broker.stop)
            self.broker = None
        await self.stop_gateway()
        if self.institution is not None:
            await self.institution.close()
            self.institution = None
        if self.dukcapil is not None:
            await self.dukcapil.close()
            self.dukcapil = None
        await asyncio.get_running_loop().run_in_executor(None, self.devices.close)

    async def __aenter__(self) -> Stack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- gateway ------------------------------------------------------------------------------

    def _gateway_settings(self) -> dict[str, Any]:
        return gateway_settings(self)

    async def start_gateway(self) -> None:
        """Start the gateway (again, on the same port after a stop)."""
        if self.gateway is not None:
            return
        if self._gateway_config is None:
            self._gateway_config = parse_config(self._gateway_settings(), self.run_dir)
        self.gateway = await start_gateway(self._gateway_config, configure_logging=True)
        if not self.gateway_port:
            self.gateway_port = self.gateway.port
            # later restarts must come back on the port the agent knows
            settings = self._gateway_settings()
            self._gateway_config = parse_config(settings, self.run_dir)

    async def stop_gateway(self) -> None:
        """Stop the gateway (the agent then sees it as unreachable)."""
        if self.gateway is not None:
            await self.gateway.close()
            self.gateway = None

    async def admin_patch_policy(self, patch: dict[str, Any]) -> None:
        """Change the institution's policy through the gateway's admin API (admin certificate)."""
        assert self.pki is not None and self._admin is not None
        ctx = self.pki.client_context(self._admin)
        url = f"https://127.0.0.1:{self.gateway_port}/admin/v1/institutions/{INSTITUTION}/policy"
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.patch(url, json=patch, ssl=ctx) as resp,
        ):
            if resp.status != 200:
                raise StackError(f"admin API answered {resp.status}: {await resp.text()}")

    async def register_kiosk(self) -> None:
        """Put the simulated kiosk in the fleet's registry (`kiosk-fleet devices add`)."""
        assert self.fleet is not None
        code, out = await self.fleet.fleet(
            "devices",
            "add",
            DEVICE_ID,
            "--institution",
            INSTITUTION,
            "--region",
            "33",
            "--serial",
            SERIAL,
        )
        if code != 0 and "already registered" not in out:  # a run directory used again
            raise StackError(f"kiosk-fleet devices add failed: {out}")

    def _make_token(self) -> None:
        """A fresh SoftHSM token for the kiosk (its key is made there at the agent's start)."""
        self.softhsm, self.token = make_kiosk_token(self.run_dir / "softhsm")

    async def technician_enrolment_token(self) -> None:
        """As a technician on site: register the kiosk, then hand it a single-use token."""
        assert self.fleet is not None and self.pki is not None and self.softhsm is not None
        await self.register_kiosk()
        await hand_enrolment_token(
            self.fleet, self.pki, self.softhsm, self.run_dir, self.est_url, SERIAL, INSTITUTION
        )

    def kiosk_key_present(self) -> bool:
        """Whether the kiosk's token still holds a key (a child process asks SoftHSM)."""
        assert self.softhsm is not None and self.token is not None
        return bool(self.softhsm.key_labels(self.token))

    @property
    def est_url(self) -> str:
        """The fleet service's EST listener."""
        return f"https://localhost:{self.est_port}"

    @property
    def identity_dir(self) -> Path:
        """Where the agent keeps its certificate and the URI PEM of its token key."""
        return self.run_dir / "agent" / "state" / "identity"

    def kiosk_client_context(self) -> ssl.SSLContext:
        """A TLS client context as this kiosk: its certificate, its key in the token (through
        pkcs11-provider, loaded into this process too)."""
        assert self.pki is not None and self.device is not None
        load_token_provider(self.identity_dir / "openssl-pkcs11.cnf")
        return self.pki.client_context(self.device)

    # --- agent --------------------------------------------------------------------------------

    def _power_off(self) -> None:
        """The MCU cut the Pi's power (MCU thread): the agent process dies with it."""
        agent = self.agent
        self._power_cuts += 1
        if agent is not None and agent.poll() is None:
            _log.warning("supervisor MCU cut the power: killing the kiosk agent")
            agent.kill()

    def _power_on(self) -> None:
        """The MCU restored power (MCU thread): the kiosk boots, the agent starts again."""
        if self._agent_wanted and self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._reboot()))

    async def _reboot(self) -> None:
        self.agent = None
        await self.start_agent()
        self.agent_restarts += 1
        self.rebooted.set()
        async with self._restarted:
            self._restarted.notify_all()

    async def start_agent(self) -> None:
        """Start `python -m edge_agent` and wait for its READY=1 (sd_notify)."""
        self._agent_wanted = True
        self.ui_port = self.ui_port or free_port()
        config = write_agent_config(self)
        notify_path = self.run_dir / "agent" / "notify.sock"
        notify_path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(notify_path))
        sock.setblocking(False)
        env = {**os.environ, **self.devices.pcscd.env, "NOTIFY_SOCKET": str(notify_path)}
        env.update(self.softhsm.env() if self.softhsm is not None else {})
        log = (self.run_dir / "agent" / "agent.log").open("ab")
        cuts, restarts = self._power_cuts, self.agent_restarts
        try:
            started = time.perf_counter()
            self.agent = subprocess.Popen(
                [*self.agent_prefix, sys.executable, "-m", "edge_agent", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            try:
                await await_ready(self.agent, sock, 30.0, self.run_dir / "agent" / "agent.log")
            except StackError:
                if self._power_cuts == cuts:
                    raise
                # the agent was off longer than the MCU's misses allow: it power-cycles the kiosk
                _log.warning("the MCU cut the power as the agent started: awaiting its reboot")
                async with self._restarted:
                    await asyncio.wait_for(
                        self._restarted.wait_for(lambda: self.agent_restarts > restarts), 60.0
                    )
                return
            self.agent_ready_seconds = time.perf_counter() - started
            # the kiosk's certificate (enrolled) and the URI PEM naming its key in the token
            self.device = Issued(
                DEVICE_ID,
                self.identity_dir / "device.crt",
                self.identity_dir / "device.key",
                0,
            )
        finally:
            log.close()
            sock.close()

    async def stop_agent(self, timeout: float = 10.0) -> None:
        """SIGTERM the agent and wait (SIGKILL after `timeout`)."""
        self._agent_wanted = False
        agent, self.agent = self.agent, None
        if agent is None or agent.poll() is not None:
            return
        agent.terminate()
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(None, agent.wait), timeout)
        except TimeoutError:
            _log.warning("kiosk agent ignored SIGTERM for %g s: killing it", timeout)
            agent.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(loop.run_in_executor(None, agent.wait), timeout)
