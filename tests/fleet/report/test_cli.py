"""`kiosk-fleet report` and `report verify` as the admin runs them: the files, the console's
warning when the gateway cannot be read, and a clear message (never a traceback) for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.cli import main
from fleet.config import render_config
from fleet.store.sqlite import SqliteStore
from protocol.signed import private_pem, public_pem
from tests.fleet.report.synthetic import INSTITUTIONS, fill

PERPUS = INSTITUTIONS[0]


def _config(tmp_path: Path, *, key: bool = True, gateway: bool = True) -> Path:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    secret = Ed25519PrivateKey.generate()
    (tmp_path / "admin.pem").write_bytes(private_pem(secret))
    (tmp_path / "admin.pub").write_bytes(public_pem(secret.public_key()))
    store = tmp_path / "fleet.sqlite3"
    if not store.exists():
        s = SqliteStore(store)
        fill(s, kiosks_each=3)
        s.close()
    text = render_config(
        signing_key=(tmp_path / "admin.pem") if key else None,
        broker_host="127.0.0.1",
        broker_port=8884,
        ca_file=tmp_path / "missing-ca.pem",
        cert_file=tmp_path / "missing.pem",
        key_file=tmp_path / "missing.key",
        gateway_url="https://127.0.0.1:9" if gateway else None,
        name="fleet-admin",
        store_path=store,
    )
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


def test_report_then_verify_and_a_changed_pdf_exits_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    out = tmp_path / "out"
    args = ["--config", str(config), "report", "--institution", PERPUS, "--semester", "2026-2"]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "warning: the gateway's counts were not read" in captured.err
    pdf = out / f"laporan-{PERPUS}-2026-2.pdf"
    assert pdf.exists() and (out / f"laporan-{PERPUS}-2026-2-lampiran.csv").exists()
    assert "gateway unreachable" in captured.out

    assert main(["--config", str(config), "report", "verify", str(pdf)]) == 0
    assert "verified" in capsys.readouterr().out
    pub = ["--public-key", str(tmp_path / "admin.pub")]
    assert main(["report", "verify", str(pdf), *pub]) == 0
    csv = out / f"laporan-{PERPUS}-2026-2-lampiran.csv"
    csv.write_text(csv.read_text().replace("total,", "total,1", 1))
    assert main(["report", "verify", str(pdf), *pub]) == 5
    assert "lampiran.csv: the annex was changed" in capsys.readouterr().err
    csv.unlink()
    assert main(["report", "verify", str(pdf), *pub]) == 0
    assert "not beside the PDF: not checked" in capsys.readouterr().out
    pdf.write_bytes(pdf.read_bytes().replace(b"%%EOF", b"%%EOF\n%x", 1))
    assert main(["report", "verify", str(pdf), *pub]) == 5
    assert "changed after it was signed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--institution", "nobody", "--semester", "2026-2"], "no kiosk of this institution"),
        (["--institution", PERPUS, "--semester", "2026-3"], "a semester is YYYY-1"),
        (["--institution", PERPUS, "--semester", "26-1"], "a semester is YYYY-1"),
        (["--institution", "../etc", "--semester", "2026-1"], "an institution id is"),
        (["--semester", "2026-1"], "needs --institution"),
    ],
)
def test_bad_input_is_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    config = _config(tmp_path, gateway=False)
    assert main(["--config", str(config), "report", *extra, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_unwritable_out_and_a_missing_signing_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    args = ["--config", str(config), "report", "--institution", PERPUS, "--semester", "2026-2"]
    (tmp_path / "a-file").write_text("")
    assert main([*args, "--out", str(tmp_path / "a-file")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "a-file" / "below")]) == 2
    assert "cannot write there" in capsys.readouterr().err

    (tmp_path / "admin.pem").unlink()
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    assert "admin.pem: no such file (signing_key in" in capsys.readouterr().err
    nokey = _config(tmp_path / ".", key=False)
    assert main(["--config", str(nokey), *args[2:], "--out", str(tmp_path / "out")]) == 2
    assert "no signing key" in capsys.readouterr().err
    assert main(["report", "verify", str(tmp_path / "none.pdf")]) == 2
    assert "none.pdf: no such file" in capsys.readouterr().err
