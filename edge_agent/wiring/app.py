"""Wiring: the real drivers from the configuration, the session, the gateway link, the page.

One asyncio process. Blocking driver calls run on the session's device threads; the card
monitor's thread enters the loop only through `call_soon_threadsafe`; every task is owned and
cancelled at `stop()`. Anything may be injected instead of being built from the configuration,
which is how tests and the simulation run the agent in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

from common.clock import Clock, SystemClock
from common.errors import TlsFileError
from common.hardening import disable_core_dumps
from common.tasks import cancel_and_wait
from common.tls import client_context
from edge_agent.config import AgentConfig, FingerprintConfig, IndicatorsConfig
from edge_agent.devices import FingerPort, GatewayPort, IndicatorPort
from edge_agent.errors import ConfigError, IdentityError, StartupError
from edge_agent.hygiene import Notifier
from edge_agent.identity.device import DeviceIdentity
from edge_agent.identity.gate import IdentityGate
from edge_agent.session.counters import OutcomeCounter
from edge_agent.session.gateway_link import GatewayLink, tls_context
from edge_agent.session.lights import IndicatorObserver, NoIndicators, PatternNames
from edge_agent.session.report import SessionReport
from edge_agent.session.screens import ScreenObserver
from edge_agent.session.verification import Session, SessionState
from edge_agent.ui.server import UiServer
from edge_agent.uplink.connection import Uplink
from edge_agent.uplink.enforcer import Enforcer
from edge_agent.uplink.health import GatewayPing, HealthProbes
from edge_agent.uplink.statefile import RemoteState
from edge_agent.wiring.balikan import start_balikan
from edge_agent.wiring.card_reader import build_card_reader
from edge_agent.wiring.devicecheck import DeviceCheck
from edge_agent.wiring.fleet_side import (
    build_state_parts,
    build_uplink,
    health_probes,
    open_supervisor,
    watch_tamper_switch,
)
from hardware.card.reader import CardEvent, CardReader
from hardware.errors import HardwareError
from protocol.messages import ReaderIdentity, VerificationResponse
from protocol.mqtt import AckStatus
from protocol.outcomes import Outcome

_log = logging.getLogger(__name__)


def build_fingerprint(cfg: FingerprintConfig) -> tuple[FingerPort, Any]:
    """The fingerprint module on its UART, and the serial port to close at the end."""
    from hardware.fingerprint.module import FingerprintModule, open_serial

    port = open_serial(cfg.port, cfg.baud)
    return FingerprintModule(port, address=cfg.address, password=cfg.password), port


def build_indicators(cfg: IndicatorsConfig) -> IndicatorPort:
    """The GPIO LEDs and buzzer, or nothing when [indicators] is off."""
    if not cfg.enabled:
        return NoIndicators()
    from hardware.gpio import Indicators, Pattern

    if cfg.pin_factory == "mock":
        from gpiozero.pins.mock import MockFactory

        factory: Any = MockFactory()
    else:
        from gpiozero.pins.lgpio import LGPIOFactory

        factory = LGPIOFactory()
    device = Indicators(cfg.green, cfg.amber, cfg.red, cfg.buzzer, pin_factory=factory)
    return PatternNames(device, Pattern)


class Agent:
    """The kiosk agent in one process: start(), then stop(). Inject any part to replace it."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        card: CardReader | None = None,
        finger: FingerPort | None = None,
        gateway: GatewayPort | None = None,
        indicators: IndicatorPort | None = None,
        clock: Clock | None = None,
        serve_ui: bool = True,
        ui_port: int | None = None,
        env: Mapping[str, str] | None = None,
        observers: tuple[ScreenObserver, ...] = (),
        on_finished: Callable[[SessionReport], None] | None = None,
        wall: Callable[[], float] | None = None,
        tamper_pin_factory: Any = None,
    ) -> None:
        self.config = config
        self._card = card
        self._finger = finger
        self._gateway = gateway
        self._indicators = indicators
        self._clock: Clock = clock or SystemClock()
        self._serve_ui = serve_ui
        self._ui_port = config.ui.port if ui_port is None else ui_port
        self._notifier = Notifier(self._clock, env)
        self._observers = observers
        self._on_finished = on_finished
        self._closers: list[Callable[[], Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._monitoring = False
        self._wall = wall or time.time
        self._tamper_pin_factory = tamper_pin_factory
        self._enforcer: Enforcer | None = None
        self._tamper_switch: Any = None
        self._supervisor: Any = None
        # [state]: remote state, usage outbox and tamper latch (None: the agent as before)
        self.fleet = build_state_parts(config, self._wall, self._enforce, self._clock)
        self.counter: OutcomeCounter = self.fleet.counter if self.fleet else OutcomeCounter()
        self.uplink: Uplink | None = None
        self.link: GatewayLink | None = None
        self._balikan: Any = None  # (Balikan, InstitutionLink) when [balikan] is configured
        self.ui: UiServer | None = None
        self._session: Session | None = None
        self.started_in: float | None = None
        self.identity: DeviceIdentity | None = None  # [identity]: the key in a token
        self._renewal: asyncio.Task[None] | None = None
        self._probes: HealthProbes | None = None
        self.devices: DeviceCheck | None = None  # READY only once every device answers

    @property
    def session(self) -> Session:
        """The verification session (after start)."""
        if self._session is None:
            raise RuntimeError("the agent is not started")
        return self._session

    @property
    def ui_url(self) -> str | None:
        """Where the kiosk page is served (after start), or None without a page."""
        return self.ui.url if self.ui is not None else None

    async def start(self) -> None:
        """Build what was not injected, start the page, the link and the card monitor; READY."""
        t0 = time.perf_counter()
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        try:
            card = self._card or build_card_reader(cfg.reader, cfg.identity)
            finger = self._finger or self._build_fingerprint()
            indicators = self._indicators or build_indicators(cfg.indicators)
        except (HardwareError, ImportError, OSError) as err:
            await self._close_all()
            raise StartupError(f"cannot start a device: {type(err).__name__}: {err}") from err
        self._card = card
        closer = getattr(indicators, "close", None)
        if callable(closer):
            self._closers.append(closer)
        gateway = self._gateway
        tampered = self.fleet is not None and self.fleet.control.state.tampered
        if gateway is None and tampered:
            gateway = _KeyDestroyed()  # no key for TLS; sessions are refused anyway
        if cfg.identity is not None and not tampered:
            self.identity = DeviceIdentity(cfg.identity, cfg.device.id, clock=self._clock)
            try:
                await self.identity.start()  # the key in the token; enrolled if need be
            except IdentityError as err:
                await self._close_all()
                raise StartupError(f"kiosk identity: {err}") from err
        if gateway is None:
            self.link = GatewayLink(cfg.gateway, cfg.device.id, wall=self._wall)
            await self.link.start()
            gateway = self.link
            if self.fleet is not None:  # usage counted on the gateway's local day
                self.fleet.counter.wall = self.link.gateway_time
            self._balikan = await start_balikan(cfg, self.link, self._clock)
        if self.identity is not None:
            gateway = IdentityGate(gateway, self.identity, self._wall)
        observers: list[ScreenObserver] = [IndicatorObserver(indicators), *self._observers]
        if self._serve_ui:
            self.ui = UiServer(
                cfg.ui.host,
                self._ui_port,
                language=cfg.ui.language,
                kiosk_id=cfg.device.id,
                help_contact=cfg.ui.help_contact,
                voice_dir=cfg.ui.voice_dir if cfg.ui.voice else None,
            )
            observers.append(self.ui)
        self._session = Session(
            card=card,
            finger=finger,
            gateway=gateway,
            reader=ReaderIdentity(cfg.reader.reader_id, cfg.reader.sam_id),
            timeouts=cfg.timeouts,
            clock=self._clock,
            counter=self.counter,
            observers=observers,
            first_finger=cfg.session.first_finger,
            max_tries=cfg.session.max_tries,
            on_finished=self._on_finished,
            notice_wait=cfg.timeouts.notice if self.ui is not None else None,  # needs a page
            balikan=self._balikan[0] if self._balikan else None,
        )
        await self._start_fleet(card, finger, indicators)  # a deactivated kiosk starts so
        for observer in observers:
            observer.show(self._session.screen)
        if self.ui is not None:
            self.ui.set_control(self._session)
            try:
                await self.ui.start()
            except OSError as err:
                await self._close_all()
                raise StartupError(f"cannot serve the kiosk page: {err.strerror}") from err
        try:
            card.start_monitor(self._card_event_from_thread)
        except HardwareError as err:
            await self._close_all()
            raise StartupError(f"cannot watch the card reader: {err}") from err
        self._monitoring = True
        self.started_in = time.perf_counter() - t0
        if self.identity is not None:
            self.identity.listeners.append(self._use_new_identity)
            self._renewal = asyncio.get_running_loop().create_task(
                self.identity.run(), name="certificate-renewal"
            )
        session, parts = self._session, (card, finger, self._supervisor, self._probes)
        self.devices = DeviceCheck.for_agent(*parts, self._clock, lambda: session.state in _IDLE)
        await self.devices.announce(self._notifier, cfg.device.id, self.started_in)  # or not

    async def _start_fleet(self, card: Any, finger: Any, indicators: IndicatorPort) -> None:
        """Apply the persisted remote state; start the tamper switch and the MQTT uplink."""
        if self.fleet is None or self._session is None:
            return
        session = self._session
        self.fleet.storage.listen(session.set_storage)
        self.fleet.storage.start()
        self._enforcer = Enforcer(session, indicators)
        self._enforcer.apply(self.fleet.control.state)  # a deactivated kiosk stays deactivated
        assert self._loop is not None
        self.fleet.tamper.bind(self._loop)
        probes = health_probes(
            self.config,
            card,
            finger,
            self.link.tls if self.link is not None else None,
            idle=lambda: session.state in (SessionState.IDLE, SessionState.DEACTIVATED),
        )
        self._probes = probes
        rotate = self._rotate if self.identity is not None else None
        self.uplink = build_uplink(
            self.config, self.fleet, self._enforcer, probes, self._clock, self._wall, rotate
        )
        link = self.link
        if self.uplink is not None and link is not None:
            self.uplink.telemetry.clock_offset = lambda: link.clock_offset
        try:
            self._tamper_switch = watch_tamper_switch(
                self.config, self.fleet.tamper, self._tamper_pin_factory
            )
            self._supervisor = open_supervisor(self.config, self.fleet.tamper)
            if self._supervisor is not None:
                await self._supervisor.start()
                probes.mcu = self._supervisor.health
                session.add_observer(self._supervisor)
        except HardwareError as err:
            await self._close_all()
            raise StartupError(f"cannot watch the tamper switch or the MCU: {err}") from err
        if self.uplink is not None:
            await self.uplink.start()

    async def _rotate(self) -> AckStatus:
        """The signed `rotate_certificate` command: renew now."""
        assert self.identity is not None
        try:
            await self.identity.renew("rotate_certificate command")
        except IdentityError as err:
            _log.error("rotate_certificate failed: %s", err)
            return AckStatus.FAILED
        return AckStatus.DONE

    async def _use_new_identity(self) -> None:
        """After a renewal: new TLS contexts for the gateway, its probe and the broker."""
        cfg = self.config
        try:
            if self.link is not None:
                await self.link.use_tls(tls_context(cfg.gateway))
                probe = self._probes.gateway if self._probes is not None else None
                if isinstance(probe, GatewayPing):
                    await probe.use_tls(self.link.tls)
            if self.uplink is not None:
                self.uplink.use_tls(client_context(*cfg.mqtt_files))
        except (ConfigError, TlsFileError) as err:
            raise IdentityError(f"the renewed certificate does not load: {err}") from err

    def _enforce(self, state: RemoteState) -> None:
        """Make the session follow the remote state (tamper response)."""
        if self._enforcer is not None:
            self._enforcer.apply(state)

    def mcu_tamper(self, report: Any) -> None:
        """A supervisor MCU tamper report (pass as SupervisorLink(on_tamper=agent.mcu_tamper))."""
        if self.fleet is not None:
            self.fleet.tamper.mcu_tamper(report)
        else:
            _log.error("tamper reported by the MCU, but no [state] is configured to latch it")

    def _build_fingerprint(self) -> FingerPort:
        module, port = build_fingerprint(self.config.fingerprint)
        self._closers.append(port.close)
        return module

    def _card_event_from_thread(self, event: CardEvent) -> None:
        """The card monitor's callback (its own thread): hand the event to the loop."""
        loop = self._loop
        session = self._session
        if loop is None or session is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed while the monitor ran
            loop.call_soon_threadsafe(session.on_card_event, event)

    async def stop(self) -> None:
        """STOPPING, end any session (wiped), stop the monitor, the page and the link."""
        await self._notifier.stopping()
        await self._close_all()
        _log.info("kiosk agent stopped; outcomes %s", self.counter.snapshot())

    async def _close_all(self) -> None:
        await cancel_and_wait(self._renewal)
        if self.devices is not None:
            await self.devices.stop()
        self._renewal = None
        if self.uplink is not None:
            if self.fleet is not None:
                await self.fleet.tamper.close()
            await self.uplink.stop()
            self.uplink = None
        if self._tamper_switch is not None:
            self._tamper_switch.close()
            self._tamper_switch = None
        if self._supervisor is not None:
            await self._supervisor.close()
            self._supervisor = None
        if self._monitoring and self._card is not None:
            self._monitoring = False
            try:
                await asyncio.to_thread(self._card.stop_monitor)
            except HardwareError as err:
                _log.warning("card monitor did not stop cleanly: %s", err)
        if self._session is not None:
            await self._session.close()
        if self.ui is not None:
            await self.ui.stop()
        if self.link is not None:
            await self.link.close()
        if self._balikan is not None:
            await self._balikan[1].close()
            self._balikan = None
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception as err:
                _log.warning("closing a device failed: %s", type(err).__name__)
        if self.fleet is not None:
            await self.fleet.storage.close()
            self.fleet.outbox.close()
        if self.identity is not None:
            self.identity.close()


_IDLE = (SessionState.IDLE, SessionState.DEACTIVATED)


class _KeyDestroyed:
    """The gateway port of a kiosk whose key was destroyed by the tamper response."""

    async def verify(self, request_id: str, *_: Any) -> VerificationResponse:
        """Always SERVICE_UNAVAILABLE."""
        return VerificationResponse(request_id, Outcome.SERVICE_UNAVAILABLE)


async def run_agent(
    config: AgentConfig, *, stop: asyncio.Event | None = None, **parts: Any
) -> None:
    """Run the agent until SIGTERM/SIGINT (or `stop` is set); `parts` go to Agent()."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    agent = Agent(config, **parts)
    try:
        await agent.start()
        await stop.wait()
    finally:
        await agent.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)


def harden_process() -> None:
    """Core dumps off for this process (call once, before anything reads a card)."""
    if not disable_core_dumps():
        _log.warning("could not mark the process non-dumpable (RLIMIT_CORE is 0 all the same)")
