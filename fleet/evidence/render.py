"""The evidence report as text for an auditor: Indonesian first, English second."""

from __future__ import annotations

import textwrap
import time

from fleet.evidence.model import DUTIES, STATUS_ID, Evidence, Status

WIDTH = 96


def status_text(status: Status) -> str:
    """ "LULUS / PASS"."""
    return f"{STATUS_ID[status]} / {status.value}"


def _field(label: str, text: str) -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=f"   {label}: ",
        subsequent_indent=" " * (5 + len(label)),
        break_on_hyphens=False,
    ) or [f"   {label}:"]


def render_text(ev: Evidence) -> str:
    """The whole report as plain text (also the signed .txt file)."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ev.made_at))
    counts = {s: sum(r.status is s for r in ev.results) for s in Status}
    verdict = Status.PASS if ev.ok else Status.FAIL
    lines = [
        "BUKTI PEMENUHAN KEWAJIBAN PKS DAN JUKNIS (PROOF OF CONCEPT)",
        "PoC evidence of the PKS and Juknis duties",
        "",
        f"Konfigurasi / Deployment: {ev.deployment}",
        f"Dibuat / Made: {when} oleh / by {ev.made_by}",
        f"Hasil / Result: {status_text(verdict)} ("
        + ", ".join(f"{counts[s]} {status_text(s)}" for s in Status)
        + ")",
        "",
    ]
    for i, r in enumerate(ev.results, 1):
        duty = DUTIES[r.duty]
        head = f"{i:>2}. {duty.title_id} / {duty.title_en}"
        lines.append(f"{head}  [{status_text(r.status)}]")
        lines += _field("Klausul / Clause", ev.clause(r.duty))
        lines += _field("Diperiksa / Checked", duty.checked)
        lines += _field("Temuan / Found", r.detail)
        if r.fix:
            lines += _field("Perbaikan / Fix", r.fix)
        lines.append("")
    if not ev.ok:
        failing = [DUTIES[r.duty].title_id for r in ev.results if r.status is Status.FAIL]
        lines.append(f"GAGAL / FAILED: {', '.join(failing)}")
    return "\n".join(lines).rstrip() + "\n"
