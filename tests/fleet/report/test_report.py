"""A semester report over a synthetic semester (many kiosks, two institutions): its figures read
back from the PDF with pdftotext, a page rendered with pdftoppm into build/screens, the
signature checked, and a changed PDF refused."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.semester.document import number
from fleet.semester.make import MadeReport, make_report, prepare_out
from fleet.semester.period import Semester, month_label
from fleet.semester.signature import SignatureMismatch, verify_report
from fleet.semester.sources import GatewayCounts
from fleet.store.base import FleetStore
from fleet.store.sqlite import SqliteStore
from protocol.outcomes import Outcome
from protocol.signed import keyring
from tests.fleet.report.synthetic import INSTITUTIONS, Expected, fill, gateway_view

SCREENS = Path(__file__).parents[3] / "build" / "screens"
SEMESTER = Semester(2026, 2)
MADE_AT = 1_798_000_000  # 23 December 2026
PERPUS, RSUD = INSTITUTIONS


def pdf_text(path: Path) -> str:
    """The PDF's text, one table row a line (pdftotext -layout)."""
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def semester(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FleetStore, Expected]]:
    store = SqliteStore(tmp_path_factory.mktemp("store") / "fleet.sqlite3")
    expected = fill(store, kiosks_each=30)
    yield store, expected
    store.close()


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _make(
    store: FleetStore, counts: GatewayCounts, key: Ed25519PrivateKey, inst: str, out: Path
) -> MadeReport:
    return make_report(
        store,
        counts,
        key,
        institution=inst,
        semester=SEMESTER,
        out=prepare_out(out),
        admin="fleet-admin",
        now=MADE_AT,
    )


def test_the_report_shows_the_generated_figures_and_every_difference(
    semester: tuple[FleetStore, Expected], key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    store, expected = semester
    view = gateway_view(expected, PERPUS)
    view["2026-09-01", "FOUND"] -= 3  # the gateway counted 3 fewer in September
    made = _make(store, GatewayCounts(view, 200, None, True), key, PERPUS, tmp_path)
    text = pdf_text(made.pdf)
    lines = text.splitlines()

    total = expected.total(PERPUS)
    found = expected.total(PERPUS, Outcome.FOUND)
    assert f"Sesi di kios {number(total)}" in " ".join(text.split())
    assert f"Ditemukan (FOUND) {number(found)}" in " ".join(text.split())
    blocked = expected.total(PERPUS, Outcome.PATTERN_BLOCKED)
    assert f"Ditolak anti-scraping {number(blocked)}" in " ".join(text.split())
    days_out = sum(len(d) for d in expected.quota_days[PERPUS].values())
    assert f"Hari kuota habis {number(days_out)}" in " ".join(text.split())
    # per month: the FOUND row of the outcome table holds every month's count and the total
    row = next(line for line in lines if line.strip().startswith("FOUND (Data Ditemukan)"))
    months = [number(expected.month(PERPUS, m, Outcome.FOUND)) for m in SEMESTER.months]
    assert row.split()[-7:] == [*months, number(found)]
    # the one difference is shown, with both counts
    assert "BERBEDA: 1 selisih" in text
    sept = next(line for line in lines if line.strip().startswith(month_label("2026-09")))
    fleet_n = expected.month(PERPUS, "2026-09", Outcome.FOUND)
    assert sept.split()[-3:] == [number(fleet_n), number(fleet_n - 3), "+3"]
    # data balikan against FOUND (the gateway's returns)
    sent = sum(n for (_, o), n in view.items() if o == "RETURN_ACCEPTED")
    assert f"{number(sent)} / {number(found)}" in text
    # the other institution's kiosks are not in it
    assert made.data.total.kiosks_counting == 30

    annex = json.loads(made.json.read_text())
    assert annex["total"]["sessions"] == total
    assert annex["differences"] == [
        {"month": "2026-09", "outcome": "FOUND", "fleet": fleet_n, "gateway": fleet_n - 3}
    ]
    csv_lines = made.csv.read_text().splitlines()
    assert len(csv_lines) == 8 and csv_lines[-1].startswith(f"total,{total},")
    assert store.reports(PERPUS, str(SEMESTER))[-1].sha256 == made.sha256

    SCREENS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "2",
            str(made.pdf),
            str(SCREENS / "fleet-semester-report"),
        ],
        check=True,
    )
    assert (SCREENS / "fleet-semester-report-1.png").stat().st_size > 10_000


def test_reconciled_report_of_the_other_institution_and_a_changed_pdf_fails(
    semester: tuple[FleetStore, Expected], key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    store, expected = semester
    counts = GatewayCounts(gateway_view(expected, RSUD), None, None, True)
    made = _make(store, counts, key, RSUD, tmp_path)
    text = pdf_text(made.pdf)
    assert "Sesuai:" in text and "BERBEDA" not in text
    assert f"{number(expected.total(RSUD))}" in text
    assert "tanpa batas" in text  # no daily limit (PoC approved)

    pdf, sig = made.pdf.read_bytes(), made.signature.read_bytes()
    statement = verify_report(pdf, sig, keyring(key.public_key()), "sig")
    assert (statement.institution, statement.semester) == (RSUD, "2026-2")
    changed = pdf + b"% one more line\n"  # an incremental update would look the same
    assert changed != pdf
    with pytest.raises(SignatureMismatch, match="changed after it was signed"):
        verify_report(changed, sig, keyring(key.public_key()), "sig")
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureMismatch, match="not the admin key"):
        verify_report(pdf, sig, keyring(other), "sig")
    forged = sig.replace(RSUD.encode(), PERPUS.encode())
    with pytest.raises(SignatureMismatch, match="not valid"):
        verify_report(pdf, forged, keyring(key.public_key()), "sig")


def test_an_unreachable_gateway_is_said_in_the_report(
    semester: tuple[FleetStore, Expected], key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    store, _ = semester
    counts = GatewayCounts(None, None, "cannot reach the gateway 127.0.0.1:9: ConnectionRefused")
    made = _make(store, counts, key, PERPUS, tmp_path)
    text = " ".join(pdf_text(made.pdf).split())
    assert "gateway tidak dapat dihubungi" in text
    assert "BELUM direkonsiliasi" in text and "127.0.0.1:9" in text
    assert json.loads(made.json.read_text())["gateway"]["reachable"] is False
