"""Making a semester report: read, compute, draw, sign, write the PDF, its signature and the
CSV/JSON annex into one folder, and remember in the store that it was made."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.errors import EXIT_USAGE, FleetError
from fleet.semester.document import render_pdf
from fleet.semester.figures import ReportData, compute
from fleet.semester.period import Semester
from fleet.semester.signature import sign_report
from fleet.semester.sources import GatewayCounts, collect
from fleet.store.base import FleetStore, ReportRecord, StoreError

_log = logging.getLogger(__name__)
_INSTITUTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


@dataclass(frozen=True, slots=True)
class MadeReport:
    """The files written and the figures in them."""

    pdf: Path
    signature: Path
    csv: Path
    json: Path
    sha256: str
    data: ReportData


def check_institution(institution: str) -> str:
    """An institution id (letters, digits, `.`, `_`, `-`); FleetError (usage) otherwise."""
    if not _INSTITUTION.match(institution):
        raise FleetError(
            f"--institution {institution!r}: an institution id is letters, digits, '.', '_' "
            "or '-' (as in `kiosk-fleet devices list`)",
            EXIT_USAGE,
        )
    return institution


def prepare_out(out: Path) -> Path:
    """Make the output folder and check that it takes files, before any work is done."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-"):
            pass
    except FileExistsError as err:
        raise FleetError(f"--out {out}: exists and is not a folder", EXIT_USAGE) from err
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise FleetError(
            f"--out {out}: cannot write there ({why}); choose a folder you can write to",
            EXIT_USAGE,
        ) from err
    return out


def file_stem(institution: str, semester: Semester) -> str:
    """ "laporan-perpus-a-2026-2"."""
    return f"laporan-{institution}-{semester}"


def make_report(
    store: FleetStore,
    counts: GatewayCounts,
    key: Ed25519PrivateKey,
    *,
    institution: str,
    semester: Semester,
    out: Path,
    admin: str,
    now: int,
) -> MadeReport:
    """Make, sign and write one report; the store remembers it."""
    sources = collect(store, counts, institution, semester, made_at=now, admin=admin)
    data = compute(sources)
    pdf = render_pdf(data)
    stem = file_stem(institution, semester)
    paths = MadeReport(
        out / f"{stem}.pdf",
        out / f"{stem}.pdf.sig",
        out / f"{stem}-lampiran.csv",
        out / f"{stem}-lampiran.json",
        "",
        data,
    )
    sha = hashlib.sha256(pdf).hexdigest()
    annex = {
        paths.csv.name: annex_csv(data).encode(),
        paths.json.name: json.dumps(annex_json(data, sha), indent=1, ensure_ascii=False).encode(),
    }
    signature = sign_report(
        pdf,
        key,
        file=paths.pdf.name,
        institution=institution,
        semester=str(semester),
        made_at=now,
        made_by=admin,
        annex=annex,
    )
    _write(paths.pdf, pdf)
    _write(paths.csv, annex[paths.csv.name])
    _write(paths.json, annex[paths.json.name])
    _write(paths.signature, signature + b"\n")
    try:
        store.record_report(
            ReportRecord(institution, str(semester), now, admin, sha, paths.pdf.name)
        )
    except StoreError as err:
        raise FleetError(f"the report is written, but the store did not record it: {err}") from err
    _log.info("semester report %s %s made: %s", institution, semester, sha)
    return MadeReport(paths.pdf, paths.signature, paths.csv, paths.json, sha, data)


def _write(path: Path, content: bytes) -> None:
    """Write whole or not at all (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as err:
        raise FleetError(f"cannot write {path}: {err.strerror or type(err).__name__}") from err


def annex_csv(data: ReportData) -> str:
    """One row per month and one for the semester."""
    rows = [m.row() for m in [*data.months, data.total]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    return buf.getvalue()


def annex_json(data: ReportData, sha256: str) -> dict[str, Any]:
    """Everything the PDF says, with every incident."""
    src = data.sources
    return {
        "institution": src.institution,
        "semester": str(src.semester),
        "made_at": src.made_at,
        "made_by": src.admin,
        "pdf_sha256": sha256,
        "gateway": {
            "reachable": src.gateway_usage is not None,
            "error": src.gateway_error,
            "reconciled": data.reconciled,
            "daily_limit": src.daily_limit,
        },
        "months": [m.row() for m in data.months],
        "total": data.total.row(),
        "differences": [
            {"month": d.month, "outcome": d.outcome, "fleet": d.fleet, "gateway": d.gateway}
            for d in data.differences
        ],
        "kiosks_now": data.kiosks_now,
        "incidents": [
            {
                "kind": a.kind.value,
                "target": a.target,
                "raised_at": a.raised_at,
                "cleared_at": a.cleared_at,
                "detail": a.detail,
            }
            for a in data.incidents
        ],
        "sanctions_now": [
            {
                "sanction": s.sanction.value,
                "scope": s.scope.value,
                "target": s.target,
                "since": s.since,
                "value": s.value,
            }
            for s in src.sanctions
        ],
    }
