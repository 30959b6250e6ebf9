"""The agent refuses to pretend: READY only once every configured device answers.

Which devices are configured follows from what the agent built: the PC/SC reader (pcscd, the
card reader, the SAM in its slot), the fingerprint module (it answers ReadSysPara) and the
supervisor MCU (its link is up). Injected fakes that cannot be asked are taken as present.
While something is missing the agent runs (its health goes out and names what is missing:
`missing` in the health message) but does not tell systemd READY; the check runs again every
`interval` seconds and READY follows as soon as everything answers. Probes are blocking and run
in a thread, only while no session runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from common.clock import Clock
from edge_agent.hygiene import Notifier
from edge_agent.uplink.health import HealthProbes

_log = logging.getLogger(__name__)

DEVICES = ("pcscd", "reader", "sam", "sensor", "mcu")  # the names health reports
CHECK_INTERVAL = 5.0
_PROBE_TIMEOUT = 5.0

Probe = Callable[[], tuple[str, ...]]  # blocking: the devices it found missing


def pcsc_missing(card_reader: str, sam_reader: str) -> Probe:
    """pcscd answering, the card reader listed, a card (the SAM) in the SAM reader."""

    def probe() -> tuple[str, ...]:
        from smartcard import scard

        try:
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        except scard.error:
            return ("pcscd",)
        if hresult != scard.SCARD_S_SUCCESS:
            return ("pcscd",)
        try:
            hresult, names = scard.SCardListReaders(context, [])
            if hresult in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED):
                return ("pcscd",)
            names = list(names) if hresult == scard.SCARD_S_SUCCESS else []
            card = next((n for n in names if card_reader.casefold() in n.casefold()), None)
            sam = next((n for n in names if sam_reader.casefold() in n.casefold()), None)
            missing = [] if card else ["reader"]
            if sam is None:
                return (*missing, "sam")
            hresult, states = scard.SCardGetStatusChange(
                context, 0, [(sam, scard.SCARD_STATE_UNAWARE)]
            )
            present = hresult == scard.SCARD_S_SUCCESS and bool(
                states[0][1] & scard.SCARD_STATE_PRESENT
            )
            return tuple(missing) if present else (*missing, "sam")
        except scard.error:
            return ("pcscd",)
        finally:
            with contextlib.suppress(scard.error):
                scard.SCardReleaseContext(context)

    return probe


def sensor_missing(module: Any) -> Probe | None:
    """The fingerprint module answers ReadSysPara (None: this module cannot be asked)."""
    read = getattr(module, "read_system_parameters", None)
    if not callable(read):
        return None

    def probe() -> tuple[str, ...]:
        try:
            read()
        except Exception as err:  # any SensorError, or the port gone
            _log.debug("fingerprint module check failed: %s", type(err).__name__)
            return ("sensor",)
        return ()

    return probe


def mcu_missing(link_up: Callable[[], bool]) -> Probe:
    """The supervisor MCU's link is up (it answered within its link timeout)."""
    return lambda: () if link_up() else ("mcu",)


class DeviceCheck:
    """Which configured devices are missing now; READY to systemd once none is."""

    def __init__(
        self,
        probes: list[tuple[str, Probe]],
        clock: Clock,
        *,
        idle: Callable[[], bool] = lambda: True,
        interval: float = CHECK_INTERVAL,
    ) -> None:
        self._probes = probes
        self._clock = clock
        self._idle = idle
        self.interval = interval
        self.missing: tuple[str, ...] = ()
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_agent(
        cls,
        card: Any,
        finger: Any,
        supervisor: Any,
        health: HealthProbes | None,
        clock: Clock,
        idle: Callable[[], bool],
    ) -> DeviceCheck:
        """The probes of what the agent built (PcscCardReader, FingerprintModule, the MCU);
        `health` then reports the missing devices."""
        probes: list[tuple[str, Probe]] = []
        names = getattr(card, "card_reader", None), getattr(card, "sam_reader", None)
        if isinstance(names[0], str) and isinstance(names[1], str):
            probes.append(("pcscd", pcsc_missing(names[0], names[1])))
        sensor = sensor_missing(finger)
        if sensor is not None:
            probes.append(("sensor", sensor))
        if supervisor is not None:
            probes.append(("mcu", mcu_missing(lambda: bool(supervisor.health()[0]))))
        check = cls(probes, clock, idle=idle)
        if health is not None:
            health.missing = lambda: check.missing
        return check

    async def refresh(self) -> tuple[str, ...]:
        """Run every probe (in a thread); the missing devices, in DEVICES order."""
        found: set[str] = set()
        for hung, probe in self._probes:
            try:
                async with asyncio.timeout(_PROBE_TIMEOUT):
                    found.update(await asyncio.to_thread(probe))
            except TimeoutError:
                found.add(hung)
        self.missing = tuple(d for d in DEVICES if d in found)
        return self.missing

    async def announce(self, notifier: Notifier, device_id: str, started_in: float) -> None:
        """READY now if every device answers; else say which are missing and keep checking."""
        missing = await self.refresh()
        if not missing:
            self._ready(notifier, device_id, started_in)
        else:
            _log.error(
                "kiosk agent %s NOT ready: missing or silent: %s (checking every %g s)",
                device_id,
                ", ".join(missing),
                self.interval,
            )
            notifier.status(f"waiting for: {', '.join(missing)}")
        self._task = asyncio.get_running_loop().create_task(
            self._run(notifier, device_id, started_in), name="device-check"
        )

    async def stop(self) -> None:
        """Stop checking."""
        from common.tasks import cancel_and_wait

        await cancel_and_wait(self._task)
        self._task = None

    def _ready(self, notifier: Notifier, device_id: str, started_in: float) -> None:
        self.ready.set()
        notifier.ready(f"ready in {started_in * 1000:.0f} ms")
        _log.info("kiosk agent %s ready in %.0f ms", device_id, started_in * 1000)

    async def _run(self, notifier: Notifier, device_id: str, started_in: float) -> None:
        """Check again every `interval` (while idle): READY once all answer; log changes."""
        while True:
            await self._clock.sleep(self.interval)
            if not self._idle():
                continue
            before = self.missing
            try:
                missing = await self.refresh()
            except Exception:  # a probe's bug must not end the checks
                _log.exception("device check failed")
                continue
            if missing != before:
                if missing:
                    _log.error("devices missing or silent: %s", ", ".join(missing))
                else:
                    _log.warning("every device answers again")
            if not missing and not self.ready.is_set():
                self._ready(notifier, device_id, started_in)
