"""Step 3 of `kiosk-provision`: read the hardware's ids from the hardware and register them.

`read_inventory` asks each configured device who it is (hardware/inventory.py): the reader's
PC/SC name and serial, the SAM's serial and activation state, the fingerprint module's chip
serial and system parameters, the supervisor MCU's board id. `register_inventory` sends them to
the fleet service (`PUT /provision/v1/devices/{device_id}/hardware`), which stores them in its
registry and pins the reader and SAM at the gateway without a restart. Errors are typed
(`BindingError` subclasses) and name the device and what to check, Indonesian first. Nothing
here reads a citizen's card: the SAM slot only.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from hardware.errors import (
    CardError,
    CardTimeoutError,
    HardwareError,
    NoReaderError,
    SamMissingError,
    SensorError,
)
from hardware.supervisor.errors import SupervisorError, SupervisorRefusedError
from protocol.inventory import Inventory
from provisioning.errors import BindingError

if TYPE_CHECKING:
    from edge_agent.config import AgentConfig

_log = logging.getLogger(__name__)

HARDWARE_PATH = "/provision/v1/devices/{device_id}/hardware"
DEFAULT_CARD_READER = "Virtual PCD 00 00"  # hardware.card.pcsc's defaults (no pyscard import)
DEFAULT_SAM_READER = "Virtual PCD 00 01"


class DeviceMissingError(BindingError):
    """A configured device is missing or does not answer; `device` names it."""

    def __init__(self, device: str, code: str, message_id: str, message_en: str) -> None:
        super().__init__(code, message_id, message_en)
        self.device = device


class SamNotActivatedError(BindingError):
    """The SAM answers but Dukcapil has not activated it."""


class RegistrationError(BindingError):
    """The fleet service did not take the bindings (unreachable, refused, gateway not pinned)."""


__all__ = [
    "DeviceMissingError",
    "Inventory",
    "RegistrationError",
    "SamNotActivatedError",
    "read_inventory",
    "register_inventory",
    "require_activated",
]


def read_inventory(config: AgentConfig) -> Inventory:
    """Read every configured device's ids from the device itself.

    Raises DeviceMissingError (reader, SAM, sensor or MCU missing or silent: the message says
    which and what to check). A SAM not activated is reported in `sam_activated`, not raised:
    `require_activated` refuses it, and `register_inventory` calls that.
    """
    from hardware import inventory

    card_name = config.reader.card_reader or DEFAULT_CARD_READER
    sam_name = config.reader.sam_reader or DEFAULT_SAM_READER
    try:
        reader = inventory.read_reader(card_name, sam_name)
    except CardError as err:
        raise _card_error(err, card_name, sam_name) from err
    fp = config.fingerprint
    try:
        sensor = inventory.read_sensor(fp.port, fp.baud, address=fp.address, password=fp.password)
    except SensorError as err:
        raise DeviceMissingError(
            "sensor",
            "SENSOR_MISSING",
            f"Modul sidik jari di {fp.port} tidak menjawab ({type(err).__name__}). Periksa kabel "
            f"UART modul, dayanya, dan baud {fp.baud} di [fingerprint] agent.toml.",
            f"The fingerprint module on {fp.port} does not answer ({err}). Check the module's "
            f"UART cable, its power, and baud {fp.baud} in [fingerprint] of agent.toml.",
        ) from err
    mcu_id = None
    if config.supervisor is not None:
        mcu_id = _read_mcu(config.supervisor.port, config.supervisor.baud)
    inv = Inventory(
        reader_name=reader.card_reader,
        reader_serial=reader.serial,
        sam_serial=reader.sam.serial,
        sam_activated=reader.sam.activated,
        sensor_serial=sensor.serial,
        sensor_params=sensor.params,
        mcu_id=mcu_id,
    )
    _log.info(
        "hardware read: reader %s (serial %s), SAM %s (%s), sensor %s, MCU %s",
        inv.reader_name,
        inv.reader_serial or "-",
        inv.sam_serial,
        "activated" if inv.sam_activated else "NOT activated",
        inv.sensor_serial,
        inv.mcu_id or "-",
    )
    return inv


def require_activated(inv: Inventory) -> None:
    """Raise SamNotActivatedError unless Dukcapil has activated the SAM."""
    if not inv.sam_activated:
        raise SamNotActivatedError(
            "SAM_NOT_ACTIVATED",
            f"SAM {inv.sam_serial} belum diaktifkan oleh Dukcapil. Ajukan aktivasi SAM ini ke "
            "Dukcapil, lalu jalankan langkah ini lagi.",
            f"SAM {inv.sam_serial} has not been activated by Dukcapil. Ask Dukcapil to activate "
            "this SAM, then run this step again.",
        )


def register_inventory(fleet_url: str, ctx: ssl.SSLContext, device_id: str, inv: Inventory) -> None:
    """PUT the inventory to the fleet service, which stores it and pins reader/SAM at the gateway.

    `ctx` carries the technician's or the kiosk's client certificate. Raises
    SamNotActivatedError before sending anything for a SAM not activated, RegistrationError
    when the fleet service is unreachable (retry), refuses, or could not pin at the gateway.
    """
    require_activated(inv)
    parts = urlsplit(fleet_url)
    if parts.scheme != "https" or parts.hostname is None:
        raise RegistrationError(
            "FLEET_URL",
            f"Alamat layanan armada {fleet_url!r} bukan URL https.",
            f"The fleet service address {fleet_url!r} is not an https URL.",
        )
    path = parts.path.rstrip("/") + HARDWARE_PATH.format(device_id=quote(device_id, safe=""))
    body = json.dumps(inv.as_json(), sort_keys=True).encode()
    conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, context=ctx, timeout=10)
    try:
        conn.request("PUT", path, body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        status, raw = resp.status, resp.read(4096)
    except (OSError, http.client.HTTPException) as err:
        raise RegistrationError(
            "FLEET_UNREACHABLE",
            f"Layanan armada {parts.hostname}:{parts.port or 443} tidak dapat dihubungi "
            f"({type(err).__name__}). Periksa jaringan tertutup, lalu jalankan langkah ini lagi.",
            f"The fleet service {parts.hostname}:{parts.port or 443} cannot be reached ({err}). "
            "Check the closed network, then run this step again.",
            retry=True,
        ) from err
    finally:
        conn.close()
    if status != 200:
        raise _refusal(status, raw)
    _log.info("hardware of %s registered and pinned at the gateway", device_id)


def _refusal(status: int, raw: bytes) -> RegistrationError:
    text = raw.decode("utf-8", "replace").strip().splitlines()
    why = text[0][:300] if text else f"HTTP {status}"
    if status == 502:
        return RegistrationError(
            "GATEWAY_NOT_PINNED",
            f"Data perangkat tersimpan, tetapi gateway belum menerima pengikatan ({why}). "
            "Jalankan langkah ini lagi setelah gateway dapat dihubungi.",
            f"The hardware is stored but the gateway did not take the pin ({why}). Run this step "
            "again once the gateway can be reached.",
            retry=True,
        )
    if status in (401, 403):
        return RegistrationError(
            "FLEET_FORBIDDEN",
            f"Layanan armada menolak sertifikat ini ({why}). Gunakan sertifikat teknisi yang "
            "berlaku atau sertifikat kios ini.",
            f"The fleet service refused this certificate ({why}). Use a valid technician "
            "certificate or this kiosk's own certificate.",
        )
    return RegistrationError(
        "FLEET_REFUSED",
        f"Layanan armada menolak data perangkat (HTTP {status}: {why}).",
        f"The fleet service refused the hardware (HTTP {status}: {why}).",
        retry=status >= 500,
    )


def _card_error(err: CardError, card_name: str, sam_name: str) -> DeviceMissingError:
    if isinstance(err, NoReaderError):
        return DeviceMissingError(
            "reader",
            "READER_MISSING",
            f"Pembaca kartu {card_name!r} tidak ditemukan atau pcscd tidak berjalan. Periksa "
            "`systemctl status pcscd`, kabel USB pembaca, dan [reader] card_reader di agent.toml.",
            f"The card reader {card_name!r} is not found or pcscd is not running ({err}). Check "
            "`systemctl status pcscd`, the reader's USB cable, and [reader] card_reader in "
            "agent.toml.",
        )
    if isinstance(err, SamMissingError):
        return DeviceMissingError(
            "sam",
            "SAM_MISSING",
            f"Tidak ada SAM di slot {sam_name!r}. Periksa SAM terpasang penuh di slot SAM pembaca.",
            f"No SAM in the slot {sam_name!r} ({err}). Check the SAM sits fully in the reader's "
            "SAM slot.",
        )
    what = "did not answer in time" if isinstance(err, CardTimeoutError) else str(err)
    return DeviceMissingError(
        "sam",
        "SAM_NOT_ANSWERING",
        f"SAM di slot {sam_name!r} tidak menjawab dengan benar. Cabut dan pasang lagi SAM, "
        "lalu jalankan langkah ini lagi.",
        f"The SAM in the slot {sam_name!r} does not answer properly ({what}). Reseat the SAM, "
        "then run this step again.",
    )


def _read_mcu(port: str, baud: int) -> str:
    from hardware import inventory

    try:
        return inventory.read_mcu(port, baud)
    except SupervisorRefusedError as err:
        raise DeviceMissingError(
            "mcu",
            "MCU_NO_ID",
            f"MCU pengawas di {port} tidak memberi ID papan. Perbarui firmware MCU.",
            f"The supervisor MCU on {port} gives no board id ({err}). Update the MCU firmware.",
        ) from err
    except (SupervisorError, HardwareError) as err:
        raise DeviceMissingError(
            "mcu",
            "MCU_MISSING",
            f"MCU pengawas di {port} tidak menjawab. Periksa kabel UART MCU, dayanya, dan "
            "[supervisor] port di agent.toml.",
            f"The supervisor MCU on {port} does not answer ({err}). Check the MCU's UART "
            "cable, its power, and [supervisor] port in agent.toml.",
        ) from err
