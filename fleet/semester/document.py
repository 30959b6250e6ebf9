"""The report's PDF: its texts (Indonesian) and tables as data.json, its charts as SVG, laid out
by report.typ and compiled by Typst (the `typst` package: the compiler and its fonts, bundled)."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from fleet.errors import FleetError
from fleet.semester import charts
from fleet.semester.figures import MonthFigures, ReportData
from fleet.semester.period import MONTHS_ID, month_label
from protocol.outcomes import Outcome

MAX_INCIDENT_ROWS = 200
_KIND_ID = {
    "tamper": "tamper",
    "lost": "tidak terhubung",
    "cert_expiring": "sertifikat hampir habis",
    "cert_expired": "sertifikat kedaluwarsa",
    "device_fault": "perangkat bermasalah",
    "deactivation_pending": "penonaktifan tertunda",
    "quota_nearly_used": "kuota hampir habis",
    "scraping": "anti-scraping",
    "report_due": "laporan semester",
    "balikan_behind": "data balikan tertinggal",
}
_STATE_ID = {
    "active": "aktif",
    "deactivated": "dinonaktifkan",
    "tampered": "tamper",
    "decommissioned": "dipensiunkan",
}


def number(n: int | None) -> str:
    """An integer the Indonesian way (1.234.567); "-" for none."""
    return "-" if n is None else f"{n:,}".replace(",", ".")


def percent(part: int | None, whole: int) -> str:
    """ "87,5%" ("-" when there is nothing to compare)."""
    if part is None or whole == 0:
        return "-"
    return f"{100 * part / whole:.1f}%".replace(".", ",")


def when(ts: int) -> str:
    """ "5 Desember 2026 17:30 UTC"."""
    t = dt.datetime.fromtimestamp(ts, dt.UTC)
    return f"{t.day} {MONTHS_ID[t.month - 1]} {t.year} {t:%H:%M} UTC"


def _day(d: dt.date) -> str:
    return f"{d.day} {MONTHS_ID[d.month - 1]} {d.year}"


def _quota(m: MonthFigures) -> str:
    if m.quota_allowed is None:
        return f"{number(m.quota_used)} / tanpa batas"
    return f"{number(m.quota_used)} / {number(m.quota_allowed)}"


def _balikan(m: MonthFigures) -> str:
    if m.balikan_sent is None:
        return f"? / {number(m.found)}"
    return f"{number(m.balikan_sent)} / {number(m.found)}"


def texts(data: ReportData) -> dict[str, Any]:
    """Everything report.typ shows, as strings."""
    src, total = data.sources, data.total
    kiosks = ", ".join(f"{_STATE_ID[s]} {number(n)}" for s, n in data.kiosks_now.items() if n)
    summary = [
        ["Sesi di kios", number(total.sessions)],
        ["Ditemukan (FOUND)", number(total.found)],
        ["Kuota terpakai / batas", _quota(total)],
        ["Hari kuota habis", number(total.quota_days_out)],
        ["Ditolak anti-scraping", number(total.scraping_refused)],
        [
            "Data balikan terkirim / FOUND",
            f"{_balikan(total)} ({percent(total.balikan_sent, total.found)})",
        ],
        ["Kios terdaftar saat ini", kiosks or "tidak ada"],
        ["Penonaktifan / pengaktifan kembali", f"{total.deactivations} / {total.reactivations}"],
        ["Kejadian tamper", number(total.tamper_events)],
        ["Peringatan", number(total.alerts)],
        ["Sanksi selama semester", ", ".join(total.sanctions) or "tidak ada"],
    ]
    header = ["Bulan", "Sesi", "FOUND", "Kuota terpakai / batas", "Hari kuota habis"]
    header += ["Ditolak anti-scraping", "Data balikan / FOUND", "Kios melapor"]
    header += ["Nonaktif", "Tamper", "Peringatan", "Sanksi"]
    rows = [_month_row(month_label(m.month), m) for m in data.months]
    rows.append(_month_row("Semester", total))
    outcome_rows = []
    for o in Outcome:
        values = [m.outcomes.get(o.value, 0) for m in data.months]
        outcome_rows.append(
            [
                f"{o.value} ({o.text()})",
                *map(number, values),
                number(total.outcomes.get(o.value, 0)),
            ]
        )
    return {
        "title": "Laporan Semester Kios Verifikasi KTP-el",
        "admin": src.admin,
        "meta": [
            ["Lembaga pengguna", src.institution],
            ["Periode", src.semester.label_id],
            ["Rentang", f"{_day(src.semester.first_day)} - {_day(src.semester.last_day)}"],
            ["Dibuat", f"{when(src.made_at)} oleh {src.admin}"],
            ["Sumber", "penyimpanan layanan armada (fleet) dan hitungan gateway"],
        ],
        "summary": [["Hal", "Jumlah"], *summary],
        "reconciliation": _reconciliation(data),
        "monthly": {
            "header": header,
            "rows": rows,
            "note": (
                "Kuota terpakai: jawaban Dukcapil yang dihitung ke kuota harian (FOUND, "
                "FOUND_DECEASED, FOUND_DUPLICATE, NOT_FOUND, FOUND_INACTIVE); batas: kuota "
                "harian yang berlaku saat laporan dibuat dikali jumlah hari. Hari kuota habis: "
                "hari dengan jawaban QUOTA_EXHAUSTED. Data balikan: pengembalian yang diterima "
                "gateway (RETURN_ACCEPTED)."
            ),
        },
        "outcomes": {
            "header": ["Hasil", *(month_label(m.month).split()[0] for m in data.months), "Total"],
            "rows": outcome_rows,
        },
        "incidents": _incidents(data),
        "sanctions": _sanctions(data),
        "charts": [],
        "signature": (
            "SHA-256 berkas PDF ini ditandatangani dengan kunci admin Dukcapil (Ed25519) dalam "
            "berkas tanda tangan terpisah (.sig). Periksa dengan: kiosk-fleet report verify "
            "BERKAS.pdf. Lampiran: berkas CSV dan JSON dengan angka yang sama."
        ),
        "footer": f"{src.institution} · {src.semester.label_id}",
    }


def _month_row(label: str, m: MonthFigures) -> list[str]:
    return [
        label,
        number(m.sessions),
        number(m.found),
        _quota(m),
        number(m.quota_days_out),
        number(m.scraping_refused),
        _balikan(m),
        number(m.kiosks_counting),
        number(m.deactivations),
        number(m.tamper_events),
        number(m.alerts),
        ", ".join(m.sanctions) or "-",
    ]


def _reconciliation(data: ReportData) -> dict[str, Any]:
    src = data.sources
    header = ["Bulan", "Hasil", "Fleet", "Gateway", "Selisih"]
    if src.gateway_usage is None:
        why = src.gateway_error or "tidak diketahui"
        text = (
            "PERHATIAN: gateway tidak dapat dihubungi saat laporan dibuat; angka di bawah berasal "
            f"dari penyimpanan fleet saja dan BELUM direkonsiliasi ({why}). Data balikan tidak "
            "diketahui (?)."
        )
        return {"text": text, "header": header, "rows": []}
    if not data.differences:
        text = (
            "Sesuai: untuk setiap bulan dan setiap jawaban yang diputuskan gateway (jawaban "
            "Dukcapil dan penolakan anti-scraping), hitungan kios di penyimpanan fleet sama "
            "dengan hitungan gateway."
        )
        return {"text": text, "header": header, "rows": []}
    text = (
        f"BERBEDA: {len(data.differences)} selisih antara hitungan kios (fleet) dan hitungan "
        "gateway, semuanya tercantum di bawah (misalnya kios yang belum mengirim hitungannya)."
    )
    rows = [
        [
            month_label(d.month),
            d.outcome,
            number(d.fleet),
            number(d.gateway),
            f"{d.fleet - d.gateway:+d}",
        ]
        for d in data.differences
    ]
    return {"text": text, "header": header, "rows": rows}


def _incidents(data: ReportData) -> dict[str, Any]:
    found = data.incidents
    shown = found[:MAX_INCIDENT_ROWS]
    if not found:
        text = "Tidak ada peringatan selama semester."
    else:
        text = f"{number(len(found))} peringatan selama semester"
        if len(found) > len(shown):
            text += f"; {number(len(shown))} pertama di bawah, semuanya di lampiran JSON"
        text += "."
    rows = [
        [
            when(a.raised_at),
            _KIND_ID.get(a.kind.value, a.kind.value),
            a.target,
            "terbuka" if a.cleared_at is None else f"selesai {when(a.cleared_at)}",
        ]
        for a in shown
    ]
    return {"text": text, "header": ["Waktu", "Jenis", "Sasaran", "Status"], "rows": rows}


def _sanctions(data: ReportData) -> dict[str, Any]:
    now = data.sources.sanctions
    rows = [
        [s.sanction.value, s.target, when(s.since), "-" if s.value is None else str(s.value)]
        for s in now
    ]
    text = "Tidak ada sanksi yang berlaku." if not now else f"{len(now)} sanksi berlaku."
    return {"text": text, "header": ["Sanksi", "Sasaran", "Sejak", "Nilai"], "rows": rows}


def render_pdf(data: ReportData) -> bytes:
    """The report as PDF bytes (the same figures give the same bytes)."""
    import typst

    content = texts(data)
    template = resources.files("fleet.semester").joinpath("report.typ").read_bytes()
    with tempfile.TemporaryDirectory(prefix="semester-report-") as tmp:
        folder = Path(tmp)
        content["charts"] = charts.draw(data, folder)
        (folder / "data.json").write_text(json.dumps(content, ensure_ascii=False))
        (folder / "main.typ").write_bytes(template)
        try:
            pdf = typst.compile(
                str(folder / "main.typ"),
                root=str(folder),
                timestamp=data.sources.made_at,
                ignore_system_fonts=True,
            )
        except typst.TypstError as err:
            raise FleetError(f"the report's PDF could not be made (Typst): {err.message}") from err
    assert isinstance(pdf, bytes)
    return pdf
