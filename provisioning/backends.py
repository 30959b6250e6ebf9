"""How the tool reaches the kiosk's hardware and services: one dataclass of callables.

The defaults are the real ones (pcscd's socket, the PKCS#11 token, the disk, the CPU's
thermal zone, `provisioning.binding` and `provisioning.sam_bind` (the binding and SAM steps),
the supervisor MCU on its UART, the gateway's health route); tests replace any of them with a
fake or a simulator (`dataclasses.replace(Backends(), ...)`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from common.token import Token, TokenConfig
from edge_agent.config import AgentConfig
from provisioning import binding, links, sam_bind
from provisioning.testcard import TestCardCheck

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


class McuLink(Protocol):
    """What the tool asks of the supervisor MCU (hardware.supervisor.SupervisorLink has it)."""

    def hello(self) -> Any:
        """Announce the Pi; the MCU's status."""

    def request_status(self) -> Any:
        """The MCU's status (McuStatus)."""

    def provision_key(self, key: bytes) -> None:
        """SET_KEY (once in the MCU's life)."""

    def send_heartbeat(self) -> None:
        """One heartbeat."""

    def wait_heartbeats_acked(self, count: int, timeout: float) -> bool:
        """Wait for acknowledged heartbeats."""

    def set_pattern(self, pattern: Any) -> None:
        """Show an LED pattern."""

    def buzzer(self, duration_ms: int) -> None:
        """Sound the buzzer."""

    def send_clear(self, payload: bytes) -> None:
        """Pass an authenticated tamper clear on."""


def pcscd_ready() -> bool:
    """True if pcscd's socket accepts a connection (PCSCLITE_CSOCK_NAME, else the default)."""
    path = os.environ.get("PCSCLITE_CSOCK_NAME") or str(PCSCD_SOCKET)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def disk_usage(path: Path) -> tuple[int, int]:
    """(free, total) bytes of the file system holding `path`."""
    usage = shutil.disk_usage(path if path.exists() else path.parent)
    return usage.free, usage.total


def cpu_temperature() -> float | None:
    """The CPU's temperature in °C (None where the machine does not tell)."""
    try:
        return int(THERMAL_ZONE.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def bind_sam(config: AgentConfig, token: Token) -> Any:
    """The SAM step's function (provisioning.sam_bind.bind_sam, through the kiosk's pcscd)."""
    return sam_bind.bind_sam(config, token)


def unbind_sam(config: AgentConfig, token: Token) -> bool:
    """Release the SAM from this kiosk (provisioning.sam_bind.unbind_sam)."""
    return sam_bind.unbind_sam(config, token)


@contextlib.contextmanager
def open_supervisor(config: AgentConfig) -> Iterator[McuLink]:
    """The supervisor MCU's link on [supervisor] port, started and greeted."""
    from hardware.supervisor import SupervisorLink, open_port

    s = config.supervisor
    assert s is not None
    port = open_port(s.port, s.baud)
    link = SupervisorLink(port)
    try:
        link.start()
        link.hello()
        yield link
    finally:
        link.close()
        with contextlib.suppress(OSError):
            port.close()


_TEST_CARD = TestCardCheck()


@dataclass(frozen=True)
class Backends:
    """The tool's reach into the kiosk (see the module's text)."""

    pcscd_ready: Callable[[], bool] = pcscd_ready
    open_token: Callable[[TokenConfig], Token] = Token.open
    disk_usage: Callable[[Path], tuple[int, int]] = disk_usage
    temperature: Callable[[], float | None] = cpu_temperature
    read_inventory: Callable[[AgentConfig], Any] = binding.read_inventory
    register_inventory: Callable[[str, ssl.SSLContext, str, Any], None] = binding.register_inventory
    bind_sam: Callable[[AgentConfig, Token], Any] = bind_sam
    unbind_sam: Callable[[AgentConfig, Token], bool] = unbind_sam
    supervisor: Callable[[AgentConfig], AbstractContextManager[McuLink]] = open_supervisor
    # the self-test's card and finger: the SHA-256 of the NIK read through the SAM, and whether
    # the test card's finger matched its template (provisioning.testcard; None: not tested)
    test_card: Callable[[AgentConfig], str] = _TEST_CARD.test_card
    test_finger: Callable[[AgentConfig], bool] | None = _TEST_CARD.test_finger
    # the links with the new certificate (provisioning.links)
    gateway_health: Callable[[AgentConfig, ssl.SSLContext], Awaitable[float]] = links.gateway_health
    broker_round_trip: Callable[[AgentConfig, ssl.SSLContext], float] = links.broker_round_trip
