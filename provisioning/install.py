"""The first steps of `kiosk-provision`: preflight, enrol, bind the hardware, bind the SAM, set
the supervisor MCU's clear key. Each is safe to run again (see each function)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes

from edge_agent.errors import IdentityError
from edge_agent.identity.device import DeviceIdentity
from provisioning.errors import (
    EnrolError,
    McuKeyError,
    PreflightError,
    SamBindError,
)
from provisioning.session import Session

_log = logging.getLogger(__name__)
MAX_SKEW_S = 2.0
MIN_FREE_BYTES = 200 * 1024 * 1024
MIN_FREE_SHARE = 0.10
MAX_TEMPERATURE_C = 80.0
ENROLMENT_FILE_NAME = ".enrolment.token"  # in the state folder, removed once used


async def preflight(s: Session) -> dict[str, Any]:
    """pcscd and the token present, the clock within 2 s of the fleet's, disk and temperature."""
    if not await s.in_thread(s.backends.pcscd_ready):
        raise PreflightError(
            "PCSCD_MISSING",
            "Layanan pcscd tidak berjalan: jalankan `systemctl start pcscd` dan periksa pembaca"
            " kartu terpasang.",
            "The pcscd service is not running: run `systemctl start pcscd` and check the card"
            " reader is plugged in.",
        )
    token = await s.in_thread(s.open_token, PreflightError)
    try:
        model = await s.in_thread(lambda: token.model)
    finally:
        await s.in_thread(token.close)
    before = s.wall()
    theirs = await s.fleet().server_time(PreflightError)
    mine = (before + s.wall()) / 2
    skew = theirs + 0.5 - mine  # the Date header is truncated to the second
    if abs(skew) > MAX_SKEW_S + 0.5:
        raise PreflightError(
            "CLOCK_SKEW",
            f"Jam kios berbeda {skew:+.0f} detik dari jam layanan armada (batas {MAX_SKEW_S:.0f}"
            " detik): periksa NTP (`timedatectl`) lalu ulangi.",
            f"The kiosk's clock is {skew:+.0f} s off the fleet service's (limit"
            f" {MAX_SKEW_S:.0f} s): check NTP (`timedatectl`) and run again.",
            retry=True,
        )
    free, total = await s.in_thread(s.backends.disk_usage, s.state_dir)
    if free < MIN_FREE_BYTES or free < MIN_FREE_SHARE * total:
        raise PreflightError(
            "DISK_FULL",
            f"Ruang disk tersisa {free // 2**20} MB: kosongkan kartu SD atau ganti dengan yang"
            " lebih besar.",
            f"Only {free // 2**20} MB of disk left: free space on the SD card or use a larger one.",
        )
    temperature = await s.in_thread(s.backends.temperature)
    if temperature is not None and temperature > MAX_TEMPERATURE_C:
        raise PreflightError(
            "TOO_HOT",
            f"Suhu CPU {temperature:.0f} °C: periksa kipas dan ventilasi kios, lalu ulangi.",
            f"The CPU is at {temperature:.0f} °C: check the kiosk's fan and vents, then run again.",
            retry=True,
        )
    return {
        "pcscd": "ok",
        "token": model,
        "clock_skew_s": round(skew, 1),
        "disk_free_mb": free // 2**20,
        "temperature_c": temperature,
    }


async def enrol(s: Session) -> dict[str, Any]:
    """The kiosk's key made in its token and its first certificate (EST simpleenroll) with a
    single-use token the technician's certificate obtains. Again: an enrolled kiosk keeps its
    certificate."""
    cfg = s.identity_config
    if s.options.serial and s.options.serial != cfg.serial:
        raise EnrolError(
            "WRONG_SERIAL",
            f"Nomor seri pada label ({s.options.serial}) bukan nomor seri kios ini di agent.toml"
            f" ({cfg.serial}): pastikan Anda di kios yang benar, atau perbaiki [identity] serial.",
            f"The serial on the label ({s.options.serial}) is not this kiosk's serial in"
            f" agent.toml ({cfg.serial}): check you are at the right kiosk, or correct"
            " [identity] serial.",
        )
    token_file = s.state_dir / ENROLMENT_FILE_NAME
    ident = DeviceIdentity(dataclasses.replace(cfg, enrolment_token_file=token_file), s.device)
    if cfg.cert_file.exists():  # enrolled before: kept if its key is still in the token
        token_file.unlink(missing_ok=True)
        with contextlib.suppress(IdentityError):
            await ident.start()
    if ident.cert is None or ident.expired(s.wall()):
        await _write_token(s, token_file)
        try:
            await ident.start()
        except IdentityError as err:
            raise EnrolError(
                "ENROL_FAILED",
                f"Enrolmen kios gagal: {err}. Jika token sudah terpakai atau kedaluwarsa,"
                " jalankan perintah yang sama lagi tanpa --enrolment-token-file: alat ini"
                " meminta token baru.",
                f"Enrolling the kiosk failed: {err}. If the token was used or expired, run the"
                " same command again without --enrolment-token-file: the tool asks for a new"
                " one.",
                retry=err.retry,
            ) from err
        finally:
            token_file.unlink(missing_ok=True)
    s.cache["identity"] = ident
    cert = ident.cert
    assert cert is not None
    return {
        "device": s.device,
        "cert_serial": f"{cert.serial_number:x}",
        "cert_fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key_label": ident.key_label,
    }


async def _write_token(s: Session, token_file: Path) -> None:
    """The enrolment token (given on the command line, or asked for) where the identity reads it."""
    given = s.options.enrolment_token_file
    if given is not None:
        try:
            token = given.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            raise EnrolError(
                "TOKEN_FILE",
                f"Berkas token enrolmen {given} tidak terbaca.",
                f"The enrolment token file {given} cannot be read.",
            ) from err
    else:
        cfg = s.identity_config
        token = await s.fleet().enrolment_token(cfg.serial, cfg.institution, EnrolError)
    token_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)


async def bind_hardware(s: Session) -> dict[str, Any]:
    """Read the hardware's ids and register them (the fleet pins them at the gateway).
    Again: the same ids read and registered once more."""
    with s.mcu_port_free():  # binding's code reads the MCU's board id on its port
        inv = await s.in_thread(s.backends.read_inventory, s.config)
    await s.in_thread(
        s.backends.register_inventory, s.fleet_base, s.technician_context(), s.device, inv
    )
    found: dict[str, Any] = inv.as_json()
    return found


async def bind_sam(s: Session) -> dict[str, Any]:
    """The SAM's host key made in the token and set in the SAM (provisioning.sam_bind)."""
    token = await s.in_thread(s.open_token, SamBindError)
    try:
        binding = await s.in_thread(s.backends.bind_sam, s.config, token)
    finally:
        await s.in_thread(token.close)
    as_json = getattr(binding, "as_json", None)
    result: dict[str, Any] = as_json() if callable(as_json) else {"bound": True}
    return result


async def mcu_key(s: Session) -> dict[str, Any]:
    """SET_KEY: a new 32-byte clear key, escrowed at the fleet service first (so that an admin
    can authorise a tamper clear), then set in the MCU. An MCU that has a key keeps it (SET_KEY
    is accepted once in its life; the escrow of its earlier provisioning stands)."""
    if s.config.supervisor is None:
        return {"mcu": "not configured"}
    from hardware.supervisor.errors import NakReason, SupervisorError, SupervisorRefusedError

    try:
        with s.mcu() as link:
            status = await s.in_thread(link.request_status)
            if status.key_set:
                return {"mcu_key": "kept", "key_id": s.state.result("mcu_key").get("key_id", "")}
            key = secrets.token_bytes(32)
            key_id = hashlib.sha256(key).hexdigest()[:16]
            await escrow_key(s, key)
            try:
                await s.in_thread(link.provision_key, key)
            except SupervisorRefusedError as err:
                if err.reason is not NakReason.KEY_ALREADY_SET:
                    raise
                return {"mcu_key": "kept", "key_id": ""}
    except SupervisorError as err:
        raise McuKeyError(
            "MCU_NOT_ANSWERING",
            f"MCU pengawas tidak menjawab ({err}): periksa kabel UART dan daya MCU, lalu ulangi.",
            f"The supervisor MCU does not answer ({err}): check its UART cable and power, then"
            " run again.",
            retry=True,
        ) from err
    except OSError as err:
        raise McuKeyError(
            "MCU_MISSING",
            f"Port MCU {s.config.supervisor.port} tidak dapat dibuka ({err.strerror}): periksa"
            " kabel dan [supervisor] port di agent.toml.",
            f"The MCU's port {s.config.supervisor.port} does not open ({err.strerror}): check"
            " the cable and [supervisor] port in agent.toml.",
        ) from err
    return {"mcu_key": "set", "key_id": key_id}


async def escrow_key(s: Session, key: bytes) -> None:
    """Send the clear key to the fleet service (technician's TLS; McuKeyError)."""
    status, raw, _ = await s.fleet().request(
        "PUT", f"/provision/v1/devices/{s.device}/mcu-key", McuKeyError, {"key": key.hex()}
    )
    if status != 201:
        from provisioning.fleet_client import refused

        raise refused(McuKeyError, "ESCROW_REFUSED", status, raw)
