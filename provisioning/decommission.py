"""`kiosk-provision decommission`: the kiosk taken out of service, or (after a tamper) made
ready for a fresh provisioning.

1. the SAM released and the hardware unbound at the fleet and the gateway;
2. the final record (kind `decommission`), signed by the kiosk's token key where it still
   exists (a tamper destroyed it: the technician's signature alone then) and the technician's;
   the fleet service countersigns it, revokes the kiosk's certificates (the CRL reaches the
   gateway and the broker), clears its bindings in the registry and sets its state:
   `decommissioned`, or `active` with `--return-to-service`;
3. the token's keys destroyed (C_DestroyObject: no file to overwrite);
4. the agent's state, its identity files and the given log folders wiped.

Each step is safe to run again; the run's own state file goes last.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from cryptography import x509

from common.errors import TokenError
from provisioning.errors import DecommissionError, ProvisionError
from provisioning.fleet_client import refused
from provisioning.handover import record_result, send_record
from provisioning.session import Session

_log = logging.getLogger(__name__)
RETURN_TO_SERVICE = "return-to-service"  # fleet.provisioning.handover reads this prefix


async def final_record(s: Session) -> dict[str, Any]:
    """The decommission record, countersigned; the fleet revokes and unbinds."""
    cfg = s.identity_config
    cert = _read_cert(cfg.cert_file)
    if cert is None:
        chain = await s.fleet().records(s.device, DecommissionError)
        if not chain:
            raise DecommissionError(
                "NO_CERTIFICATE",
                "Kios ini tidak punya sertifikat maupun berita acara: tidak ada yang perlu"
                " ditarik; minta admin menghapusnya dari registri.",
                "This kiosk has neither a certificate nor a record: there is nothing to take out"
                " of service; ask an admin to remove it from the registry.",
            )
        try:
            cert = x509.load_pem_x509_certificate(chain[-1]["kiosk_cert"].encode("ascii"))
        except (ValueError, KeyError) as err:
            raise DecommissionError(
                "NO_CERTIFICATE",
                "Sertifikat kios pada berita acara terakhir tidak terbaca.",
                "The kiosk certificate of the last record does not load.",
            ) from err
    key = None
    token = await s.in_thread(s.open_token, DecommissionError)
    try:
        for label in await s.in_thread(token.key_labels):
            found = await s.in_thread(token.find_key, label)
            if found.public_key() == cert.public_key():
                key = found
        stored = await send_record(s, "decommission", cert, key, {}, {}, DecommissionError)
    finally:
        await s.in_thread(token.close)
    result = record_result(s, stored)
    result["kiosk_signed"] = key is not None
    result["state"] = "active" if s.options.return_to_service else "decommissioned"
    return result


async def unbind(s: Session) -> dict[str, Any]:
    """The SAM released from this kiosk, the hardware forgotten by the fleet and unpinned at the
    gateway (a SAM whose key a tamper destroyed is released by its issuer: see
    docs/ktpel-card-protocol.md)."""
    token = await s.in_thread(s.open_token, DecommissionError)
    try:
        released = await s.in_thread(s.backends.unbind_sam, s.config, token)
    except ProvisionError as err:  # the SAM missing: the fleet side is still unbound
        _log.warning("the SAM was not released: %s", err.code)
        released = False
    finally:
        await s.in_thread(token.close)
    path = f"/provision/v1/devices/{s.device}/hardware"
    code, raw, _ = await s.fleet().request("DELETE", path, DecommissionError)
    if code not in (200, 404):
        raise refused(DecommissionError, "UNBIND_REFUSED", code, raw)
    return {"sam_released": released, "hardware_unbound": True}


async def destroy_keys(s: Session) -> dict[str, Any]:
    """Every key object of the kiosk's token destroyed."""
    token = await s.in_thread(s.open_token, DecommissionError)
    try:
        count = await s.in_thread(token.destroy_all)
    except TokenError as err:
        raise DecommissionError(
            "KEYS_NOT_DESTROYED",
            f"Kunci pada token kios tidak dapat dimusnahkan: {err}",
            f"The keys in the kiosk's token could not be destroyed: {err}",
        ) from err
    finally:
        await s.in_thread(token.close)
    return {"objects_destroyed": count}


async def wipe(s: Session) -> dict[str, Any]:
    """The agent's state, identity files and logs removed (this run's state file stays)."""
    keep = s.state.path
    removed = 0
    folders = [s.state_dir, s.identity_config.dir, *s.options.log_dirs]
    for folder in folders:
        if not folder.is_dir():
            continue
        for item in folder.iterdir():
            if item == keep:
                continue
            try:
                if item.is_dir() and not item.is_symlink():
                    shutil.rmtree(item)
                else:
                    item.unlink()
            except OSError as err:
                raise DecommissionError(
                    "WIPE_FAILED",
                    f"{item} tidak dapat dihapus ({err.strerror}): jalankan alat ini sebagai"
                    " pengguna agen atau root, lalu ulangi.",
                    f"{item} cannot be removed ({err.strerror}): run the tool as the agent's"
                    " user or root, then run again.",
                ) from err
            removed += 1
    state = s.config.state
    if state is not None and state.state_key.exists():  # the key of remote-state.json
        state.state_key.unlink()
        removed += 1
    return {"removed": removed, "folders": [str(f) for f in folders]}


def _read_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
