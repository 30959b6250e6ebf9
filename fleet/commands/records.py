"""The handover records (BAST) of a kiosk for `kiosk-fleet devices show`: listed, chain checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509

from fleet.ca.keys import load_certificate
from fleet.commands.context import Context, iso
from fleet.provisioning.handover import chain_of
from protocol import handover as codec

EXIT_CHAIN_BROKEN = 5  # as `audit verify`: what was checked does not verify


@dataclass(frozen=True, slots=True)
class ChainReport:
    """A kiosk's records as `devices show` prints them."""

    records: list[dict[str, Any]]
    lines: list[str]
    broken: bool


def chain_report(ctx: Context, device: str) -> ChainReport:
    """The kiosk's records, each checked (signatures, countersignature, seq, prev)."""
    chain = chain_of(ctx.store, device)
    if not chain:
        return ChainReport([], ["handover records: none"], False)
    ca = ctx.config.ca
    cas = _cas(ca.cert_file if ca else None, ca.admin_cert_file if ca else None)
    if cas is None:
        lines = [f"handover records: {len(chain)} (not checked: [ca] cert files missing)"]
        return ChainReport([_brief(r, None) for r in chain], lines, False)
    entries = codec.check_chain(chain, device_ca=cas[0], admin_ca=cas[1])
    out, lines = [], []
    for record, entry in zip(chain, entries, strict=True):
        out.append(_brief(record, entry))
        state = "ok" if not entry.problems else "BROKEN: " + "; ".join(entry.problems)
        body = record.get("body", {})
        lines.append(
            f"record {entry.seq} {entry.kind} {iso(entry.at)} by {body.get('technician', '?')}"
            f" for {body.get('representative', '?')} at {body.get('location', '')!r}"
            f" hash {entry.hash[:16]}: {state}"
        )
    broken = any(e.problems for e in entries)
    lines.append(
        "handover chain: BROKEN (a record was changed, removed or reordered)"
        if broken
        else f"handover chain: {len(entries)} records, intact"
    )
    return ChainReport(out, lines, broken)


def _brief(record: dict[str, Any], entry: codec.ChainEntry | None) -> dict[str, Any]:
    out: dict[str, Any] = {"record": record}
    if entry is not None:
        out.update(hash=entry.hash, ok=not entry.problems, problems=list(entry.problems))
    return out


def _cas(device: Any, admin: Any) -> tuple[x509.Certificate, x509.Certificate] | None:
    if device is None or admin is None:
        return None
    return load_certificate(device, "device CA"), load_certificate(admin, "admin CA")
