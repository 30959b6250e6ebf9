"""The duties checked on the host and in the code: the ten outcome texts, the semester reports
made, core dumps off."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fleet.errors import FleetError
from fleet.evidence.model import Result, failed, passed, skipped
from fleet.evidence.settings import Pks
from fleet.semester.make import file_stem
from fleet.semester.period import Semester
from fleet.semester.signature import verify_report
from protocol.outcomes import Outcome

# The Juknis's ten answers, as written there: the reference the kiosk's texts must equal.
JUKNIS_TEXTS = {
    "FOUND": "Data Ditemukan",
    "FOUND_DECEASED": "Data Ditemukan, Meninggal Dunia",
    "FOUND_DUPLICATE": "Data Ditemukan, Data Ganda",
    "NOT_FOUND": "Data tidak ditemukan, NIK tidak terdapat di database kependudukan",
    "FOUND_INACTIVE": "Data Ditemukan, Status Non Aktif silahkan hubungi Dinas Dukcapil",
    "INVALID_NIK_FORMAT": "Data tidak ditemukan, NIK tidak sesuai format Dukcapil",
    "LOGIN_FAILED": "Gagal Login",
    "QUOTA_EXHAUSTED": "Kuota akses hari ini telah habis",
    "INSTITUTION_INACTIVE": "Instansi tidak aktif",
    "USER_INACTIVE": "User ID non aktif, silahkan menghubungi Admin",
}
PROC = Path("/proc")
CORE_PATTERN = Path("/proc/sys/kernel/core_pattern")
_LIMIT_CORE = re.compile(r"^\s*LimitCORE\s*=\s*0\s*$", re.MULTILINE)


def check_outcomes(shown: Mapping[str, str] | None = None) -> Result:
    """The kiosk's upstream outcome texts equal the Juknis's ten, verbatim."""
    if shown is None:
        shown = {o.value: o.text() for o in Outcome if o.info.upstream}
    wrong = [
        f"{code}: shows {shown.get(code)!r}, the Juknis says {text!r}"
        for code, text in JUKNIS_TEXTS.items()
        if shown.get(code) != text
    ]
    extra = sorted(set(shown) - set(JUKNIS_TEXTS))
    wrong += [f"{code}: an upstream answer the Juknis does not have" for code in extra]
    if wrong:
        return failed(
            "outcomes",
            "; ".join(wrong),
            "Kembalikan teks di protocol/outcomes.py persis seperti Juknis / Put the texts in "
            "protocol/outcomes.py back exactly as the Juknis writes them",
        )
    return passed("outcomes", f"{len(JUKNIS_TEXTS)} texts equal the Juknis's, verbatim")


def _ended(first: Semester, today: dt.date) -> list[Semester]:
    out, s = [], first
    while s.last_day < today:
        out.append(s)
        s = Semester(s.year + 1, 1) if s.half == 2 else Semester(s.year, 2)
    return out


def check_reports(
    folder: Path | None,
    pks: dict[str, Pks],
    keys: Mapping[str, Ed25519PublicKey] | None,
    today: dt.date,
) -> Result:
    """A signed report for each institution and each semester ended since its PKS began."""
    if folder is None:
        return skipped("reports", "no reports folder: set [evidence] reports")
    due, found, wrong = [], [], []
    for inst, p in sorted(pks.items()):
        first = Semester.parse(p.first_semester) if p.first_semester else Semester.of(today)
        for sem in _ended(first, today):
            pdf = folder / f"{file_stem(inst, sem)}.pdf"
            sig = pdf.with_name(pdf.name + ".sig")
            if not pdf.is_file() or not sig.is_file():
                due.append(f"{inst} {sem}")
                continue
            if keys is not None:
                try:
                    verify_report(pdf.read_bytes(), sig.read_bytes(), keys, str(sig))
                except FleetError as err:
                    wrong.append(f"{inst} {sem}: {err}")
                    continue
            found.append(f"{inst} {sem}")
    if due or wrong:
        parts = ([f"missing: {', '.join(due)}"] if due else []) + wrong
        return failed(
            "reports",
            "; ".join(parts),
            "Buat laporan: kiosk-fleet report --institution ID --semester YYYY-N --out "
            "FOLDER / Make the report: kiosk-fleet report --institution ID --semester YYYY-N",
            reports=found,
        )
    if not found:
        return skipped(
            "reports",
            "no semester has ended since the PKS began: no report due yet",
            current=str(Semester.of(today)),
        )
    verified = "signatures verified" if keys is not None else "signatures not checked (no key)"
    return passed("reports", f"{len(found)} reports present, {verified}", reports=found)


def core_limit(pid: int, proc: Path = PROC) -> tuple[str, str] | None:
    """(soft, hard) RLIMIT_CORE of a process; None if it cannot be read."""
    try:
        text = (proc / str(pid) / "limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max core file size"):
            cols = line[len("Max core file size") :].split()
            return cols[0], cols[1]
    return None


def check_coredumps(pids: set[int], units: tuple[Path, ...]) -> Result:
    """No process of the deployment may write a core dump."""
    if not pids and not units:
        return skipped("coredumps", "no processes found and no units listed ([evidence] units)")
    wrong, facts = [], {}
    for pid in sorted(pids):
        limit = core_limit(pid)
        facts[str(pid)] = limit
        if limit is not None and limit[0] != "0":
            wrong.append(f"process {pid}: RLIMIT_CORE {limit[0]}")
    for unit in units:
        try:
            text = unit.read_text()
        except OSError:
            wrong.append(f"{unit}: cannot be read")
            continue
        if not _LIMIT_CORE.search(text):
            wrong.append(f"{unit}: no LimitCORE=0")
    try:
        pattern = CORE_PATTERN.read_text().strip()
    except OSError:
        pattern = "?"
    if wrong:
        return failed(
            "coredumps",
            "; ".join(wrong),
            "Tambahkan LimitCORE=0 pada unit systemd dan mulai ulang layanan / Add LimitCORE=0 "
            "to the systemd units and restart the services",
            core_pattern=pattern,
            limits=facts,
        )
    return passed(
        "coredumps",
        f"{len(pids)} processes with RLIMIT_CORE 0, {len(units)} units with LimitCORE=0; "
        f"kernel.core_pattern {pattern!r}",
        core_pattern=pattern,
        limits=facts,
    )
