"""The kiosk's simulated devices in one bundle: card and SAM behind a private pcscd, the
fingerprint module on a pty, and the GPIO of LEDs, buzzer and enclosure switch.

Each simulator replaces a device and speaks its protocol; the middleware (pcscd with the vpcd
driver, the pty, gpiozero) is the real one. The control surface and the demo script the
devices through this class.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hardware.card.reader import Finger
from kiosk_sim.pcscd import PcscdProcess
from simulators.card import CardFault, DirectTransport, VirtualSam, card_for
from simulators.card.sam_binding import issuer_reset
from simulators.fingerprint import FingerprintSim
from simulators.gpio import Enclosure, mock_factory, output_states
from simulators.personas import persona
from simulators.vpcd import VirtualSlot

_log = logging.getLogger(__name__)
T = TypeVar("T")


class DeviceScriptError(ValueError):
    """A request to the simulated devices that cannot be carried out (unknown persona, ...)."""


@dataclass(frozen=True, slots=True)
class DevicePaths:
    """Where the real drivers find the simulated devices."""

    pcsc_socket: str
    card_reader: str
    sam_reader: str
    fingerprint_port: str


class SimulatedDevices:
    """Start, script and stop every simulated kiosk device. Thread-safe."""

    def __init__(self, run_dir: Path, *, baud: int = 57600, sam_activated: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.baud = baud
        self._sam_activated = sam_activated
        self._lock = threading.Lock()
        self._card_label: str | None = None
        self._pcscd: PcscdProcess | None = None
        self._card_slot: VirtualSlot | None = None
        self._sam_slot: VirtualSlot | None = None
        self._sam: VirtualSam | None = None
        self._finger: FingerprintSim | None = None
        self.gpio_factory: Any = None
        self._enclosure: Enclosure | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SimulatedDevices:
        """Start pcscd with the two virtual readers, put the SAM in, open the sensor's pty."""
        try:
            self._pcscd = PcscdProcess(self.run_dir / "pcscd").start()
            self._card_slot = VirtualSlot(self._pcscd.card_port)
            self._sam_slot = VirtualSlot(self._pcscd.sam_port)
            self._sam = self._new_sam(self._sam_activated)
            self._sam_slot.insert(self._sam)
            self._finger = FingerprintSim(self.baud)
            self.gpio_factory = mock_factory()
            self._enclosure = Enclosure(self.gpio_factory)
        except BaseException:
            self.close()
            raise
        _log.info(
            "simulated devices up: pcscd %s, sensor %s",
            self.paths.pcsc_socket,
            self.paths.fingerprint_port,
        )
        return self

    def close(self) -> None:
        """Stop everything; safe to call twice."""
        for closer in (self._card_slot, self._sam_slot, self._finger):
            if closer is not None:
                closer.close()
        if self._pcscd is not None:
            self._pcscd.stop()
        if self.gpio_factory is not None:
            self.gpio_factory.close()
        self._card_slot = self._sam_slot = self._finger = self._pcscd = None
        self.gpio_factory = None

    def __enter__(self) -> SimulatedDevices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pcscd(self) -> PcscdProcess:
        """The private pcscd."""
        return _started(self._pcscd)

    @property
    def paths(self) -> DevicePaths:
        """Where the drivers find the devices."""
        pcscd, finger = _started(self._pcscd), _started(self._finger)
        return DevicePaths(
            str(pcscd.socket_path), pcscd.card_reader, pcscd.sam_reader, finger.port_path
        )

    @property
    def fingerprint(self) -> FingerprintSim:
        """The fingerprint module simulator."""
        return _started(self._finger)

    # --- card and SAM -------------------------------------------------------------------------

    def insert_card(self, persona_key: str, fault: str | None = None) -> None:
        """Put persona's KTP-el in the reader; `fault` as in CardFault.parse ("cloned", ...)."""
        try:
            card = card_for(persona_key, CardFault.parse(fault) if fault else None)
        except (KeyError, ValueError) as err:
            raise DeviceScriptError(str(err.args[0] if err.args else err)) from None
        slot = _started(self._card_slot)
        with self._lock:
            if slot.inserted:
                slot.remove()
            slot.insert(card)
            self._card_label = persona_key + (f" ({fault})" if fault else "")

    def remove_card(self) -> None:
        """Pull the card out of the reader (no-op when empty)."""
        slot = _started(self._card_slot)
        with self._lock:
            if slot.inserted:
                slot.remove()
            self._card_label = None

    def set_sam(self, present: bool, activated: bool = True) -> None:
        """Insert or pull the SAM; an inserted SAM may be left not activated."""
        slot = _started(self._sam_slot)
        with self._lock:
            if slot.inserted:
                slot.remove()
            if present:
                self._sam = self._new_sam(activated)
                slot.insert(self._sam)

    @property
    def sam_state_file(self) -> Path:
        """Where the SAM keeps its binding (its EEPROM): the same SAM across restarts."""
        return self.run_dir / "sam" / "state.json"

    def _new_sam(self, activated: bool) -> VirtualSam:
        return VirtualSam(activated=activated, state_file=self.sam_state_file)

    def issuer_reset_sam(self) -> None:
        """The SAM's issuer (the simulated Dukcapil) resets its binding to any kiosk."""
        sam = _started(self._sam)
        with self._lock:
            issuer_reset(DirectTransport(sam))
        _log.info("simulated SAM reset by its issuer: bound to no kiosk")

    # --- finger -------------------------------------------------------------------------------

    def place_finger(
        self, persona_key: str, finger: str = Finger.RIGHT_INDEX.value, *, touch: bool = False
    ) -> None:
        """Place one of the persona's index fingers on the sensor (for one capture if touch)."""
        try:
            template = persona(persona_key).template(Finger(finger))
        except KeyError as err:
            raise DeviceScriptError(str(err.args[0])) from None
        except ValueError:
            raise DeviceScriptError(
                f"unknown finger {finger!r}; known: {', '.join(f.value for f in Finger)}"
            ) from None
        if touch:
            self.fingerprint.touch(template)
        else:
            self.fingerprint.place(template)

    def place_other_finger(self, *, touch: bool = False) -> None:
        """Place a finger that matches no card (for one capture if touch)."""
        self.fingerprint.place_other(touch=touch)

    def wait_empty_capture(self, after: int, timeout: float = 10.0) -> bool:
        """Wait until the module has answered "no finger" more than `after` times in all."""
        return self.fingerprint.wait_for(lambda st: st.empty_captures > after, timeout)

    def lift_finger(self) -> None:
        """Take the finger off the sensor."""
        self.fingerprint.lift()

    def poor_image(self) -> None:
        """The next captures give an image too poor to use."""
        self.fingerprint.poor_image()

    def sensor_unresponsive(self, unresponsive: bool) -> None:
        """Make the module stop (or resume) answering."""
        self.fingerprint.set_unresponsive(unresponsive)

    # --- enclosure and lights -----------------------------------------------------------------

    def set_enclosure(self, opened: bool) -> None:
        """Open or close the enclosure (drives the tamper switch)."""
        enclosure = _started(self._enclosure)
        if opened:
            enclosure.open()
        else:
            enclosure.close()

    def status(self) -> dict[str, Any]:
        """What the devices are doing now (no personal data: personas by key only)."""
        return {
            "card": self._card_label,
            "sam": _started(self._sam_slot).inserted,
            "sam_bound": self._sam is not None and self._sam.binding.bound,
            "enclosure_open": _started(self._enclosure).is_open,
            "outputs": output_states(self.gpio_factory),
            "sensor": {"packets": self.fingerprint.stats.packets},
            "paths": {
                "pcsc_socket": self.paths.pcsc_socket,
                "card_reader": self.paths.card_reader,
                "sam_reader": self.paths.sam_reader,
                "fingerprint_port": self.paths.fingerprint_port,
            },
        }


def _started(part: T | None) -> T:
    if part is None:
        raise RuntimeError("the simulated devices are not running: call start() first")
    return part
