"""The duties checked through the gateway's admin API (fleet/gateway.py GatewayAdmin): the
element list and the quota per PKS, data balikan flowing, sanctions drivable."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fleet.errors import FleetError
from fleet.evidence.model import Result, failed, passed, skipped
from fleet.evidence.settings import EvidenceSettings, Pks
from fleet.gateway import GatewayAdmin

SANCTION_FIELDS = ("quota", "user_deactivated", "network_cut", "approval_revoked")
FOUND = "FOUND"  # data balikan follows a FOUND answer
RETURNED = "RETURN_ACCEPTED"


def check_elements(admin: GatewayAdmin, pks: dict[str, Pks]) -> Result:
    """Each institution's policy elements at the gateway equal its PKS list."""
    wrong, facts = [], {}
    for inst, p in sorted(pks.items()):
        policy = admin.policy(inst)
        held = {str(e) for e in policy.get("elements", [])}
        facts[inst] = sorted(held)
        extra, lacking = sorted(held - p.elements), sorted(p.elements - held)
        if extra:
            wrong.append(f"{inst}: {', '.join(extra)} given but not in its PKS")
        if lacking:
            wrong.append(f"{inst}: {', '.join(lacking)} in its PKS but not given")
    if wrong:
        fix = (
            "Samakan daftar elemen kebijakan gateway dengan PKS (kiosk-fleet / API admin "
            "gateway, PATCH elements) / Make the gateway policy's element list the PKS's "
            "(gateway config [institutions.ID] elements or the admin API)"
        )
        return failed("elements", "; ".join(wrong), fix, elements=facts)
    return passed(
        "elements",
        f"the gateway gives exactly the PKS elements ({len(pks)} institutions)",
        elements=facts,
    )


def check_quota(admin: GatewayAdmin, pks: dict[str, Pks]) -> Result:
    """The PoC flag is the PKS's; before PoC approval the daily quota is in force."""
    wrong, facts = [], {}
    for inst, p in sorted(pks.items()):
        policy = admin.policy(inst)
        flag = bool(policy.get("poc_approved"))
        quota = admin.quota(inst)
        limit = None if quota is None else quota[1]
        facts[inst] = {"poc_approved": flag, "limit": limit, "used": quota and quota[0]}
        if flag != p.poc_approved:
            wrong.append(f"{inst}: PoC flag {flag} at the gateway, {p.poc_approved} in the PKS")
        if not p.poc_approved and (limit is None or limit > p.daily_quota):
            shown = "none (quota off)" if limit is None else str(limit)
            wrong.append(f"{inst}: daily limit {shown}, the PKS allows {p.daily_quota} before PoC")
    if wrong:
        fix = (
            "Kembalikan poc_approved=false dan kuota harian sampai PoC disetujui Dukcapil / Set "
            "poc_approved back to false (the daily quota) until Dukcapil approves the PoC"
        )
        return failed("quota", "; ".join(wrong), fix, institutions=facts)
    return passed(
        "quota",
        f"PoC flags as in the PKS, the quota in force ({len(pks)} institutions)",
        institutions=facts,
    )


def check_balikan(admin: GatewayAdmin, settings: EvidenceSettings, today: dt.date) -> Result:
    """Data balikan accepted against FOUND answers, per institution, over the last days."""
    first = (today - dt.timedelta(days=settings.balikan_days - 1)).isoformat()
    # the gateway counts by the institution's local day (UTC+7 to UTC+9): one day more
    last = (today + dt.timedelta(days=1)).isoformat()
    counts = admin.usage_counts(first, last)
    per: dict[str, dict[str, int]] = {}
    for (inst, _day, outcome), n in counts.items():
        row = per.setdefault(inst, {"found": 0, "returned": 0})
        if outcome == FOUND:
            row["found"] += n
        elif outcome == RETURNED:
            row["returned"] += n
    for inst in settings.pks:
        per.setdefault(inst, {"found": 0, "returned": 0})
    behind = [
        f"{inst}: {r['returned']} returns for {r['found']} FOUND"
        for inst, r in sorted(per.items())
        if r["found"] and r["returned"] < settings.balikan_min_ratio * r["found"]
    ]
    span = f"{first}..{last}"
    if behind:
        fix = (
            "Periksa [balikan] di konfigurasi kios dan layanan instansi / Check the kiosks' "
            "[balikan] section and the institution's service (kiosk-fleet alerts)"
        )
        return failed("balikan", f"{span}: " + "; ".join(behind), fix, institutions=per)
    if not any(r["found"] for r in per.values()):
        return skipped(
            "balikan", f"no FOUND answers over {span}: nothing to return yet", institutions=per
        )
    return passed(
        "balikan",
        f"{span}: returns at least {settings.balikan_min_ratio:.0%} of FOUND for every institution",
        institutions=per,
    )


def check_sanctions(admin: GatewayAdmin, pks: dict[str, Pks], write: bool) -> Result:
    """The sanction fields exist and can be read; with `write`, written back unchanged."""
    missing, facts = [], {}
    for inst in sorted(pks):
        sanctions: dict[str, Any] = admin.policy(inst)["sanctions"]
        facts[inst] = {k: sanctions.get(k) for k in (*SANCTION_FIELDS, "deactivated_devices")}
        missing += [f"{inst}: {k}" for k in SANCTION_FIELDS if k not in sanctions]
        if write and not missing:
            try:
                admin.patch_policy(inst, {"sanctions": dict(sanctions)})
            except FleetError as err:
                return failed(
                    "sanctions",
                    f"{inst}: the sanctions cannot be written: {err}",
                    "Gunakan sertifikat admin (bukan read-only) / Use an admin certificate "
                    "that may write (not read-only)",
                )
    if missing:
        return failed(
            "sanctions",
            "sanction fields missing at the gateway: " + ", ".join(missing),
            "Perbarui gateway ke versi dengan sanksi / Update the gateway to a version with "
            "the sanctions of the regulation",
        )
    how = "read and written back unchanged" if write else "read (writing: --write-check)"
    return passed(
        "sanctions",
        f"{', '.join(SANCTION_FIELDS)} {how} ({len(pks)} institutions)",
        institutions=facts,
    )
