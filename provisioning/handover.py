"""The handover record's client side: the body made from the run's results, signed by the
kiosk's token key and the technician's key, sent to the fleet service for its countersignature,
kept beside the agent's state (JSON and, where typst is installed, a PDF in Indonesian).

The signed record is written to the state file before it is sent, so a run cut after sending
sends the same bytes again and the fleet service answers the record it stored.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from common.errors import TokenError
from protocol import handover as codec
from provisioning.errors import HandoverError, ProvisionError
from provisioning.session import Session

_log = logging.getLogger(__name__)
PENDING = "pending_record"  # a state-file entry: the signed record not yet countersigned


async def handover(s: Session) -> dict[str, Any]:
    """The handover record of this installation (kind `handover`)."""
    ident = await s.identity(HandoverError)
    assert ident.cert is not None and ident.key_label is not None
    token = await s.in_thread(s.open_token, HandoverError)
    try:
        key = await s.in_thread(token.find_key, ident.key_label)
        stored = await send_record(s, "handover", ident.cert, key, _bindings(s), _selftest(s))
    finally:
        await s.in_thread(token.close)
    result = record_result(s, stored)
    pdf = await fetch_pdf(s, result["seq"], Path(result["file"]).with_suffix(".pdf"))
    return {**result, "pdf": str(pdf) if pdf else ""}


async def send_record(
    s: Session,
    kind: str,
    kiosk_cert: x509.Certificate,
    kiosk_key: ec.EllipticCurvePrivateKey | None,
    bindings: dict[str, str | int],
    selftest: dict[str, str],
    error: type[ProvisionError] = HandoverError,
) -> dict[str, Any]:
    """Make (or take the pending), sign, send; the countersigned record."""
    fleet = s.fleet()
    pending = s.state.steps.get(PENDING, {}).get("result", {}).get("record")
    if pending is None or pending["body"]["kind"] != kind:
        chain = await fleet.records(s.device, error)
        body = codec.HandoverBody(
            kind=kind,
            seq=len(chain),
            prev=codec.record_hash(chain[-1]) if chain else codec.GENESIS,
            device=s.device,
            serial=s.identity_config.serial,
            institution=s.identity_config.institution,
            cert_fingerprint=codec.fingerprint(kiosk_cert),
            bindings=bindings,
            selftest=selftest,
            location=s.options.location,
            at=int(s.wall()),
            technician=s.technician.name,
            representative=s.options.representative,
            reason=s.options.reason,
        )
        try:
            kiosk_sig = None if kiosk_key is None else codec.party_signature(body, kiosk_key)
        except TokenError as err:
            raise error(
                "KIOSK_SIGNATURE",
                f"Token kios tidak dapat menandatangani berita acara: {err}",
                f"The kiosk's token cannot sign the record: {err}",
            ) from err
        pending = codec.signed_record(
            body,
            kiosk_cert=kiosk_cert,
            kiosk_sig=kiosk_sig,
            technician_cert=s.technician.cert,
            technician_sig=codec.party_signature(body, s.technician.key),
        )
        s.state.finish(PENDING, int(s.wall()), {"record": pending})
    stored = await fleet.post_record(s.device, pending, error)
    s.state.forget(PENDING)
    return stored


def record_result(s: Session, stored: dict[str, Any]) -> dict[str, Any]:
    """Keep the countersigned record beside the state (and its PDF); the step's result."""
    body = stored["body"]
    folder = s.state_dir / "handover"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{s.device}-{body['seq']:03d}-{body['kind']}.json"
    path.write_bytes(codec.encode(stored) + b"\n")
    return {
        "seq": body["seq"],
        "hash": codec.record_hash(stored),
        "file": str(path),
    }


async def fetch_pdf(s: Session, seq: int, path: Path) -> Path | None:
    """The record's printable page (Indonesian), made by the fleet service (None if it cannot)."""
    code, raw, _ = await s.fleet().request(
        "GET", f"/provision/v1/devices/{s.device}/records/{seq}/pdf", HandoverError
    )
    if code != 200 or not raw.startswith(b"%PDF"):
        _log.warning("the handover PDF was not made by the fleet service (%d)", code)
        return None
    path.write_bytes(raw)
    return path


def _bindings(s: Session) -> dict[str, str | int]:
    """The hardware, SAM and MCU facts recorded by earlier steps (flat, short, non-personal)."""
    out: dict[str, str | int] = {}
    for step in ("bind_hardware", "bind_sam", "mcu_key"):
        for key, value in s.state.result(step).items():
            if isinstance(value, bool):
                out[key] = "yes" if value else "no"
            elif isinstance(value, (str, int)) and not isinstance(value, bool):
                out[key] = value if isinstance(value, int) else value[: codec.MAX_TEXT]
            elif isinstance(value, dict):
                out[key] = json.dumps(value, sort_keys=True)[: codec.MAX_TEXT]
    return out


def _selftest(s: Session) -> dict[str, str]:
    found = s.state.result("selftest").get("results", {})
    return {str(k): str(v) for k, v in found.items() if v in codec.RESULTS}
