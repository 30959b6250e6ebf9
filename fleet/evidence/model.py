"""The evidence report as data: each duty, its clause, what was checked and how, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(Enum):
    """A check's result."""

    PASS = "PASS"  # noqa: S105 (a result, not a password)
    FAIL = "FAIL"
    SKIP = "SKIP"


STATUS_ID = {Status.PASS: "LULUS", Status.FAIL: "GAGAL", Status.SKIP: "DILEWATI"}


@dataclass(frozen=True, slots=True)
class Duty:
    """One duty of the PKS or the Juknis the product carries."""

    key: str
    title_id: str
    title_en: str
    clause: str  # a neutral reference; the deployment names its PKS article in [evidence.clauses]
    checked: str  # what is checked and how (English; the auditor's technical annex)


DUTIES: dict[str, Duty] = {
    d.key: d
    for d in (
        Duty(
            "network",
            "Jaringan tertutup",
            "Closed network",
            "PKS: akses melalui jaringan tertutup / Juknis: keamanan koneksi",
            "every listener of the deployment's processes (/proc/net/tcp, tcp6 and each "
            "process's sockets) is on a configured address or loopback; each TLS endpoint "
            "accepts TLS 1.3, refuses TLS 1.0/1.1 and weak TLS 1.2 suites (no ECDHE, CBC, SHA-1, "
            "3DES), and may accept TLS 1.2 with ECDHE+AEAD",
        ),
        Duty(
            "storage",
            "Tidak menyimpan data pribadi",
            "No personal data stored",
            "PKS: kewajiban menjaga kerahasiaan data kependudukan",
            "the canary scan (plain, case, hex, base64, UTF-16, gzip) of every store, log and "
            "broker persistence for the PoC test cards' data, and NIK-shaped numbers in logs",
        ),
        Duty(
            "elements",
            "Elemen data sesuai PKS",
            "Data elements as in the PKS",
            "PKS: elemen data yang diberikan hak akses",
            "the element list of each institution's policy at the gateway (admin API) equals "
            "the list of its PKS",
        ),
        Duty(
            "quota",
            "Kuota dan status PoC",
            "Quota and PoC status",
            "PKS: kuota akses harian sebelum Proof of Concept",
            "the PoC flag at the gateway is the PKS's, and the daily limit in force is the "
            "pre-PoC quota until the PoC is approved",
        ),
        Duty(
            "antiscrape",
            "Aturan NIK berurutan/berpola/cepat",
            "Sequential/patterned/rapid NIK rule",
            "Juknis: pencegahan akses NIK berurutan atau berpola",
            "synthetic NIKs in sequence sent by a probe device to the gateway; the gateway must "
            "answer PATTERN_BLOCKED",
        ),
        Duty(
            "outcomes",
            "Sepuluh teks hasil verifikasi",
            "The ten outcome texts",
            "Juknis: kode dan pesan respons",
            "the texts the kiosk shows (protocol/outcomes.py, the module its screens use) equal "
            "the Juknis's ten answers verbatim",
        ),
        Duty(
            "balikan",
            "Data balikan",
            "Data balikan (returns)",
            "PKS: kewajiban mengirimkan data balikan",
            "the gateway's data balikan accepted against its FOUND answers per institution over "
            "the last days",
        ),
        Duty(
            "reports",
            "Laporan semester",
            "Semester reports",
            "PKS: kewajiban pelaporan penggunaan setiap semester",
            "a signed report (PDF and signature, verified with the admin key) in the reports "
            "folder for each institution and each semester ended since its PKS began",
        ),
        Duty(
            "sanctions",
            "Sanksi dapat diterapkan",
            "Sanctions can be applied",
            "PKS: sanksi atas pelanggaran",
            "each institution's sanction fields are read through the gateway's admin API; "
            "with --write-check, written back unchanged",
        ),
        Duty(
            "coredumps",
            "Core dump dimatikan",
            "Core dumps off",
            "PKS: kewajiban menjaga kerahasiaan data kependudukan",
            "RLIMIT_CORE of the deployment's processes (/proc/<pid>/limits), LimitCORE=0 in "
            "their systemd units, kernel.core_pattern",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Result:
    """One check's result; `fix` says what to do when it failed."""

    duty: str
    status: Status
    detail: str  # what was found (English; names, counts, never personal data)
    fix: str = ""  # Indonesian first, English second: "... / ..."
    facts: dict[str, Any] = field(default_factory=dict)


def passed(duty: str, detail: str, **facts: Any) -> Result:
    """A PASS."""
    return Result(duty, Status.PASS, detail, facts=facts)


def failed(duty: str, detail: str, fix: str, **facts: Any) -> Result:
    """A FAIL with what to fix."""
    return Result(duty, Status.FAIL, detail, fix, facts)


def skipped(duty: str, why: str, **facts: Any) -> Result:
    """A SKIP with the reason."""
    return Result(duty, Status.SKIP, why, facts=facts)


@dataclass(frozen=True, slots=True)
class Evidence:
    """The whole report."""

    made_at: int
    made_by: str
    deployment: str  # the fleet.toml it ran against
    results: tuple[Result, ...]
    clauses: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No check failed."""
        return all(r.status is not Status.FAIL for r in self.results)

    def clause(self, duty: str) -> str:
        """The duty's reference: the deployment's own, else the neutral one."""
        return self.clauses.get(duty) or DUTIES[duty].clause

    def to_json(self) -> dict[str, Any]:
        """The --json form."""
        return {
            "kind": "poc_evidence",
            "v": 1,
            "made_at": self.made_at,
            "made_by": self.made_by,
            "deployment": self.deployment,
            "ok": self.ok,
            "counts": {s.value: sum(r.status is s for r in self.results) for s in Status},
            "duties": [
                {
                    "duty": r.duty,
                    "title_id": DUTIES[r.duty].title_id,
                    "title_en": DUTIES[r.duty].title_en,
                    "clause": self.clause(r.duty),
                    "checked": DUTIES[r.duty].checked,
                    "status": r.status.value,
                    "detail": r.detail,
                    "fix": r.fix,
                    "facts": r.facts,
                }
                for r in self.results
            ],
        }
