"""Wiring of the fleet side of the agent ([state], [admin], [mqtt], [tamper]) for app.py.

Everything here is optional: without [state] the agent runs as before (an in-memory outcome
counter, no remote control). With [state]: the remote state (deactivation, tamper latch) and
the usage outbox live in `state.dir`; with [mqtt] as well, the uplink publishes telemetry and
receives the signed admin documents; with [tamper] enabled, the enclosure switch is watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.clock import Clock
from common.errors import TlsFileError
from common.tasks import cancel_and_wait
from common.tls import client_context
from edge_agent.config import AgentConfig
from edge_agent.errors import ConfigError, StartupError
from edge_agent.identity.device import token_config
from edge_agent.identity.tamper import TokenKeyDestroyer
from edge_agent.session.lights import pattern_for
from edge_agent.session.screens import Screen
from edge_agent.uplink.connection import Uplink
from edge_agent.uplink.enforcer import Enforcer
from edge_agent.uplink.health import GatewayPing, HealthProbes, module_probe, pcsc_probe
from edge_agent.uplink.mqtt.options import MqttOptions
from edge_agent.uplink.outbox import OutboxCounter, UsageOutbox
from edge_agent.uplink.remote_control import RemoteControl
from edge_agent.uplink.statebinding import Anchor, FileStateKey, StateKeyError
from edge_agent.uplink.statefile import RemoteState, StateFile, atomic_write
from edge_agent.uplink.storage import PROBE_FILE, StorageWatch
from edge_agent.uplink.tamper import FileKeyDestroyer, KeyDestroyer, TamperResponder
from protocol.mqtt import AckStatus
from protocol.signed import keyring, load_public_key

_log = logging.getLogger(__name__)

STATE_FILE = "remote-state.json"
OUTBOX_FILE = "usage.sqlite3"


@dataclass
class StateParts:
    """What lives in [state] dir: remote control, usage outbox, tamper response, the counter."""

    control: RemoteControl
    outbox: UsageOutbox
    tamper: TamperResponder
    counter: OutboxCounter
    storage: StorageWatch


def load_admin_keys(config: AgentConfig) -> dict[str, Any]:
    """The pinned admin public keys by key id (none without [admin])."""
    if config.admin is None:
        return {}
    keys = []
    for path in config.admin.public_keys:
        try:
            keys.append(load_public_key(path.read_bytes()))
        except (OSError, ValueError) as err:
            raise ConfigError("admin.public_keys", f"{path}: not an Ed25519 public key") from err
    return keyring(*keys)


def key_files(config: AgentConfig) -> list[Path]:
    """The device's private key files (gateway and MQTT; usually one file)."""
    return [config.gateway.key_file, config.mqtt_files[2]]


def build_state_parts(
    config: AgentConfig,
    wall: Callable[[], float],
    apply: Callable[[RemoteState], None],
    clock: Clock,
) -> StateParts | None:
    """Open the state folder's parts (None without [state])."""
    if config.state is None:
        return None
    folder = config.state.dir
    keys = load_admin_keys(config)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        key = FileStateKey(config.state.state_key)
        state_file = StateFile(
            folder / STATE_FILE, key, Anchor(key.path.with_suffix(".anchor"), key)
        )
        state_file.first_start = key.created
        control = RemoteControl(config.device.id, keys, state_file, wall=wall)
        try:
            outbox = UsageOutbox(folder / OUTBOX_FILE, config.state.province, wall())
            outbox.prune(wall())
        except sqlite3.DatabaseError as err:
            path = folder / OUTBOX_FILE
            raise StartupError(
                f"the usage outbox {path} cannot be read ({err}): move it aside (keep it: it "
                "holds counts not yet sent) and start the agent again; a new outbox starts a "
                "new epoch, so no count made after that is ignored"
            ) from err
    except StateKeyError as err:
        raise StartupError(str(err)) from err
    except (OSError, sqlite3.Error) as err:
        raise StartupError(f"cannot use the state folder {folder}: {err}") from err
    destroyer: KeyDestroyer = FileKeyDestroyer(key_files(config))
    if config.identity is not None:  # C_DestroyObject: no file needs to be writable
        destroyer = TokenKeyDestroyer(token_config(config.identity))
    tamper = TamperResponder(control, apply, destroyer)
    if control.state.tampered:
        tamper.destroy_keys()  # a crash may have come between the latch and the destroy

    def check() -> None:
        atomic_write(folder / PROBE_FILE, b"ok\n")

    def probe() -> None:
        check()
        outbox.probe()

    storage = StorageWatch(folder, clock, probe, check=check)
    control.storage = storage
    counter = OutboxCounter(outbox, wall, on_failure=storage.failed)
    return StateParts(control, outbox, tamper, counter, storage)


def health_probes(
    config: AgentConfig,
    card: Any,
    finger: Any,
    gateway_ssl: Any,
    idle: Callable[[], bool],
) -> HealthProbes:
    """Probes for what the agent has: PC/SC reader and SAM, the fingerprint module, gateway."""
    reader = None
    card_name, sam_name = getattr(card, "card_reader", None), getattr(card, "sam_reader", None)
    if isinstance(card_name, str) and isinstance(sam_name, str):
        reader = pcsc_probe(card_name, sam_name)
    gateway = GatewayPing(config.gateway.url, gateway_ssl) if gateway_ssl is not None else None
    return HealthProbes(
        reader=reader,
        sensor=module_probe(finger),
        gateway=gateway,
        cert_file=config.mqtt_files[1],
        disk_path=config.state.dir if config.state else None,
        idle=idle,
    )


def build_uplink(
    config: AgentConfig,
    parts: StateParts,
    enforcer: Enforcer,
    probes: HealthProbes,
    clock: Clock,
    wall: Callable[[], float] = time.time,
    rotate: Callable[[], Awaitable[AckStatus]] | None = None,
) -> Uplink | None:
    """The MQTT uplink (None without [mqtt] or once the tamper latch destroyed the key)."""
    m = config.mqtt
    if m is None:
        return None
    if parts.control.state.tampered:
        _log.warning("tamper latched: the device key is destroyed, no MQTT connection")
        return None
    ca, cert, key = config.mqtt_files
    try:
        ctx = client_context(ca, cert, key)
    except TlsFileError as err:
        raise ConfigError("mqtt", f"cannot load the TLS files: {err}") from err
    options = MqttOptions(
        host=m.host,
        port=m.port,
        client_id=config.device.id,
        ssl_context=ctx,
        keepalive=m.keepalive,
        session_expiry=m.session_expiry,
        connect_timeout=m.connect_timeout,
        reconnect_min=m.reconnect_min,
        reconnect_max=m.reconnect_max,
    )
    uplink = Uplink(
        options,
        control=parts.control,
        enforcer=enforcer,
        outbox=parts.outbox,
        probes=probes,
        clock=clock,
        wall=wall,
        health_interval=m.health_interval,
        probe_interval=m.probe_interval,
        rotate=rotate,
    )
    uplink.telemetry.storage_ok = lambda: parts.storage.ok
    parts.storage.listen(lambda _ok: uplink.telemetry.poke())
    parts.counter.on_added = uplink.usage_added
    parts.tamper.report = uplink.report_tamper
    return uplink


def watch_tamper_switch(config: AgentConfig, tamper: TamperResponder, pin_factory: Any) -> Any:
    """The GPIO tamper switch reporting to `tamper` (None unless enabled or a factory given)."""
    if pin_factory is None:
        if not config.tamper.enabled:
            return None
        if config.tamper.pin_factory == "mock":
            from gpiozero.pins.mock import MockFactory

            pin_factory = MockFactory()
        else:
            from gpiozero.pins.lgpio import LGPIOFactory

            pin_factory = LGPIOFactory()
    from hardware.gpio import TamperSwitch

    switch = TamperSwitch(config.tamper.pin, pin_factory=pin_factory, on_change=tamper.gpio_changed)
    if switch.tampered:
        tamper.gpio_changed(True)  # open at start (or the wire is cut): tampered
    return switch


class SupervisorWatch:
    """The supervisor MCU link: tamper reports to the responder, heartbeats from the loop."""

    def __init__(self, link: Any, port: Any, interval: float) -> None:
        self.link = link
        self._port = port
        self._interval = interval
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._pattern: str | None = None

    async def start(self) -> None:
        """Start the reader, say HELLO (the MCU re-sends a latched tamper), start heartbeats."""
        from edge_agent.wiring.heartbeat import heartbeat_loop
        from hardware.supervisor import SupervisorError

        self.link.start()
        try:
            await asyncio.to_thread(self.link.hello)
        except SupervisorError as err:
            _log.warning("supervisor MCU did not answer HELLO: %s", err)
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            heartbeat_loop(self.link, self._interval, self._stop), name="mcu-heartbeat"
        )

    def health(self) -> tuple[bool, int | None, bool]:
        """Link up, power cycles of the Pi, tamper latch: as last known, no I/O."""
        h = self.link.health()
        return bool(h.link_up), h.reset_count, bool(h.tamper_latched)

    def show(self, screen: Screen) -> None:
        """ScreenObserver: the MCU's status LEDs follow the session (sent off the loop)."""
        pattern = pattern_for(screen)
        if pattern == self._pattern:
            return
        self._pattern = pattern
        asyncio.get_running_loop().run_in_executor(None, self._set_pattern, pattern)

    def _set_pattern(self, pattern: str) -> None:
        from hardware.supervisor import SupervisorError

        try:
            self.link.set_pattern(pattern)
        except SupervisorError as err:
            _log.info("supervisor MCU did not take the %s pattern: %s", pattern, err)

    async def close(self) -> None:
        """Stop heartbeats and the reader; close the port."""
        if self._stop is not None:
            self._stop.set()
        await cancel_and_wait(self._task)
        await asyncio.to_thread(self.link.close)
        with contextlib.suppress(OSError):
            self._port.close()


def open_supervisor(config: AgentConfig, tamper: TamperResponder) -> SupervisorWatch | None:
    """The supervisor MCU link on its UART (None without [supervisor])."""
    s = config.supervisor
    if s is None:
        return None
    from hardware.supervisor import SupervisorLink, open_port

    port = open_port(s.port, s.baud)
    link = SupervisorLink(port, on_tamper=tamper.mcu_tamper)
    return SupervisorWatch(link, port, s.heartbeat_interval)
