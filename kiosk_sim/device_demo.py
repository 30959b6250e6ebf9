"""The device-level demo: real drivers (pyscard through pcscd, pyserial on a pty) against the
simulated card, SAM and fingerprint module, for a few personas including broken cards.

Prints one row per scenario: persona (NIK and name masked), what happened, time taken.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from hardware.card.apdu import ApduTransport
from hardware.card.ktpel import KtpelProfile
from hardware.card.pcsc import PcscCardReader
from hardware.card.reader import CardContents, Finger, IdentityField
from hardware.card.sam_auth import MemoryHostKey, select_sam, set_host_key
from hardware.errors import CardError, HardwareError
from hardware.fingerprint.errors import FingerTimeoutError
from hardware.fingerprint.module import FingerprintModule, open_serial
from kiosk_sim.devices import SimulatedDevices
from protocol.nik import mask_nik


@dataclass(frozen=True, slots=True)
class DeviceScenario:
    """One card on the reader and one finger on the sensor."""

    name: str
    persona: str
    fault: str | None
    finger: Callable[[SimulatedDevices], None]
    template: Finger
    expected: str


def _persona_finger(key: str, finger: Finger) -> Callable[[SimulatedDevices], None]:
    return lambda devices: devices.place_finger(key, finger.value)


SCENARIOS = (
    DeviceScenario(
        "right index matches",
        "ayu",
        None,
        _persona_finger("ayu", Finger.RIGHT_INDEX),
        Finger.RIGHT_INDEX,
        "matched",
    ),
    DeviceScenario(
        "left index matches",
        "bagas",
        None,
        _persona_finger("bagas", Finger.LEFT_INDEX),
        Finger.LEFT_INDEX,
        "matched",
    ),
    DeviceScenario(
        "someone else's finger",
        "darmo",
        None,
        SimulatedDevices.place_other_finger,
        Finger.RIGHT_INDEX,
        "no match",
    ),
    DeviceScenario(
        "no finger placed",
        "gandari",
        None,
        SimulatedDevices.lift_finger,
        Finger.RIGHT_INDEX,
        "no finger (timeout)",
    ),
    DeviceScenario(
        "cloned card",
        "hendrikus",
        "cloned",
        SimulatedDevices.lift_finger,
        Finger.RIGHT_INDEX,
        "CardNotAuthenticError",
    ),
    DeviceScenario(
        "truncated identity file",
        "intan",
        "truncated_tlv",
        SimulatedDevices.lift_finger,
        Finger.RIGHT_INDEX,
        "MalformedCardDataError",
    ),
    DeviceScenario(
        "card pulled mid-read",
        "joko",
        "vanish_at:6",
        SimulatedDevices.lift_finger,
        Finger.RIGHT_INDEX,
        "CardRemovedError",
    ),
)


@dataclass(frozen=True, slots=True)
class DeviceResult:
    """What one scenario gave."""

    scenario: DeviceScenario
    who: str
    got: str
    seconds: float

    @property
    def ok(self) -> bool:
        """True if it went as expected."""
        return self.got.startswith(self.scenario.expected)


def mask_name(name: bytes | bytearray) -> str:
    """Initials only: 'A*** P*** K***'."""
    return " ".join(word[:1] + "***" for word in name.decode(errors="replace").split())


def _who(contents: CardContents) -> str:
    nik = contents.identity.get(IdentityField.NIK, bytearray())
    name = contents.identity.get(IdentityField.FULL_NAME, bytearray())
    return f"{mask_nik(nik.decode(errors='replace'))} {mask_name(name)}"


def run_scenario(
    devices: SimulatedDevices,
    reader: PcscCardReader,
    module: FingerprintModule,
    scenario: DeviceScenario,
    finger_timeout: float,
) -> DeviceResult:
    """Insert the card, read it, place the finger, match on the module."""
    devices.remove_card()
    devices.insert_card(scenario.persona, scenario.fault)
    scenario.finger(devices)
    who = "(unread)"
    start = time.perf_counter()
    contents: CardContents | None = None
    try:
        contents = reader.read()
        who = _who(contents)
        result = module.verify_finger(
            contents.templates[scenario.template], finger_timeout=finger_timeout
        )
        got = f"matched (score {result.score})" if result.matched else "no match"
    except FingerTimeoutError:
        got = "no finger (timeout)"
    except (CardError, HardwareError) as err:
        got = f"{type(err).__name__}: {err}"
    finally:
        if contents is not None:
            contents.wipe()
        devices.lift_finger()
        devices.remove_card()
    return DeviceResult(scenario, who, got, time.perf_counter() - start)


def run_device_demo(
    devices: SimulatedDevices, *, finger_timeout: float = 1.0
) -> list[DeviceResult]:
    """Run every scenario on started devices, with the real drivers in this process."""
    devices.pcscd.use_in_this_process()
    paths = devices.paths
    host_key = os.urandom(16)  # this bench's SAM host key, held in memory (a kiosk: its token)

    def bind(sam: ApduTransport) -> None:
        select_sam(sam)
        set_host_key(sam, host_key)

    devices.issuer_reset_sam()
    profile = KtpelProfile(host_key=MemoryHostKey(host_key))
    reader = PcscCardReader(paths.card_reader, paths.sam_reader, profile)
    reader.with_sam(bind)
    port = open_serial(paths.fingerprint_port, devices.baud)
    try:
        module = FingerprintModule(port)
        return [run_scenario(devices, reader, module, s, finger_timeout) for s in SCENARIOS]
    finally:
        port.close()
        reader.close()


def format_table(results: list[DeviceResult]) -> str:
    """The printed table."""
    rows = [("scenario", "persona", "card holder", "result", "ms", "ok")]
    for r in results:
        rows.append(
            (
                r.scenario.name,
                r.scenario.persona + (f" [{r.scenario.fault}]" if r.scenario.fault else ""),
                r.who,
                r.got if len(r.got) <= 60 else r.got[:57] + "...",
                f"{r.seconds * 1000:.0f}",
                "yes" if r.ok else "NO",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
