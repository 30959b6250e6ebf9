"""What the dashboard calls each state, status and code: Indonesian first, English second.

A `Label` is the two texts and a tone (ok, warn, bad, muted, info) that the page turns into a
badge; the tone only adds colour, the text always says it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.store.base import AlertKind, DeviceState, Scope
from protocol.mqtt import DeviceStatus
from protocol.outcomes import Outcome
from protocol.regions import PROVINCES
from protocol.signed import Sanction


@dataclass(frozen=True, slots=True)
class Label:
    """A text in Indonesian and English, and the tone of its badge."""

    id: str
    en: str
    tone: str = "muted"


def _code(code: str) -> Label:
    return Label(code, code, "muted")


STATE = {
    DeviceState.ACTIVE: Label("Aktif", "Active", "ok"),
    DeviceState.DEACTIVATED: Label("Dinonaktifkan", "Deactivated", "warn"),
    DeviceState.TAMPERED: Label("Gangguan fisik", "Tampered", "bad"),
    DeviceState.DECOMMISSIONED: Label("Dipensiunkan", "Decommissioned", "muted"),
}
UNREGISTERED = Label("Tidak terdaftar", "Not registered", "bad")

PRESENCE = {
    "online": Label("Daring", "Online", "ok"),
    "offline": Label("Luring", "Offline", "muted"),
    "lost": Label("Hilang kontak", "Lost", "bad"),
}
NEVER_HEARD = Label("Belum terdengar", "Never heard", "muted")

PART = {
    DeviceStatus.OK: Label("Baik", "OK", "ok"),
    DeviceStatus.FAULT: Label("Rusak", "Fault", "bad"),
    DeviceStatus.MISSING: Label("Tidak ada", "Missing", "bad"),
    DeviceStatus.UNKNOWN: Label("Tidak diketahui", "Unknown", "muted"),
}
PART_NAMES = {
    "reader": Label("Pembaca kartu", "Card reader"),
    "sam": Label("SAM", "SAM"),
    "sensor": Label("Sensor sidik jari", "Fingerprint sensor"),
    "mcu": Label("MCU pengawas", "Supervisor MCU"),
}

YES_BAD = Label("Ya", "Yes", "bad")
NO_OK = Label("Tidak", "No", "ok")
UNKNOWN = Label("—", "unknown", "muted")

ALERT = {
    AlertKind.TAMPER: Label("Gangguan fisik", "Tamper", "bad"),
    AlertKind.LOST: Label("Kios hilang kontak", "Kiosk lost", "bad"),
    AlertKind.CERT_EXPIRING: Label("Sertifikat segera kedaluwarsa", "Certificate expiring", "warn"),
    AlertKind.DEVICE_FAULT: Label("Perangkat rusak", "Device fault", "bad"),
    AlertKind.DEACTIVATION_PENDING: Label(
        "Penonaktifan belum diterapkan", "Deactivation not applied", "warn"
    ),
    AlertKind.QUOTA_NEARLY_USED: Label("Kuota hampir habis", "Quota nearly used", "warn"),
    AlertKind.SCRAPING: Label("Lonjakan penolakan anti-scraping", "Scraping refusals jump", "bad"),
    AlertKind.REPORT_DUE: Label("Laporan semester jatuh tempo", "Semester report due", "warn"),
    AlertKind.BALIKAN_BEHIND: Label("Data balikan tertinggal", "Data returns behind", "warn"),
    AlertKind.STORAGE_FAILURE: Label("Penyimpanan kios gagal", "Kiosk storage failing", "bad"),
    AlertKind.CLOCK_OFFSET: Label("Jam kios menyimpang", "Kiosk clock off", "warn"),
    AlertKind.CERT_EXPIRED: Label(
        "Sertifikat kios kedaluwarsa", "Kiosk certificate expired", "bad"
    ),
}

SANCTION = {
    Sanction.READER_DEACTIVATED: Label("Pembaca kartu dinonaktifkan", "Card reader deactivated"),
    Sanction.QUOTA_REDUCED: Label("Kuota dikurangi", "Quota reduced"),
    Sanction.USER_DEACTIVATED: Label("User ID dinonaktifkan", "User ID deactivated"),
    Sanction.NETWORK_CUT: Label("Jaringan diputus", "Network cut"),
    Sanction.APPROVAL_REVOKED: Label("Persetujuan dicabut", "Approval revoked"),
    Sanction.TERMINATED: Label("Kerja sama diakhiri", "Agreement terminated"),
}

SCOPE = {
    Scope.INSTITUTION: Label("Instansi", "Institution", "info"),
    Scope.DEVICE: Label("Kios", "Kiosk", "info"),
}

_ACTION = {
    "deactivate": Label("Nonaktifkan", "Deactivate"),
    "reactivate": Label("Aktifkan kembali", "Reactivate"),
    "sanction_set": Label("Sanksi dikenakan", "Sanction set"),
    "sanction_lift": Label("Sanksi dicabut", "Sanction lifted"),
    "command": Label("Perintah", "Command"),
    "register": Label("Didaftarkan", "Registered"),
    "remove": Label("Dihapus dari registri", "Removed from the registry"),
}

_OUTCOME = {
    "done": Label("Selesai", "Done", "ok"),
    "refused": Label("Ditolak", "Refused", "bad"),
    "timeout": Label("Waktu habis", "Timed out", "warn"),
    "failed": Label("Gagal", "Failed", "bad"),
    "forced": Label("Dipaksakan", "Forced", "warn"),
}

# Usage chart: the outcomes grouped in three, each a colour and a pattern-free legend with text.
USAGE_GROUPS = (
    ("found", Label("Data ditemukan", "Data found", "ok")),
    ("answered", Label("Jawaban lain Dukcapil", "Other Dukcapil answers", "info")),
    ("kiosk", Label("Berhenti di kios", "Ended at the kiosk", "warn")),
)


def usage_group(outcome: Outcome) -> str:
    """Which bar segment an outcome counts in."""
    if outcome.info.data_returned:
        return "found"
    return "answered" if outcome.info.upstream else "kiosk"


def action(code: str) -> Label:
    """An audit action's label (the code itself if unknown)."""
    return _ACTION.get(code, _code(code))


def outcome(code: str) -> Label:
    """An audit outcome's label (the code itself if unknown)."""
    return _OUTCOME.get(code, _code(code))


def region(code: str) -> str:
    """A region code with its province's name ("3273 · Jawa Barat")."""
    name = PROVINCES.get(code[:2])
    return f"{code} · {name}" if name else code
