"""The evidence's checks one by one, on files and data made here (no stack)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.config import ConfigFile
from fleet.errors import ConfigError
from fleet.evidence import host, network, storage
from fleet.evidence.model import Status
from fleet.evidence.probe import synthetic_niks
from fleet.evidence.settings import Pks, parse_evidence
from fleet.evidence.signature import sign_evidence, verify_evidence
from fleet.semester.signature import SignatureMismatch, sign_report
from protocol.nik import is_valid_nik
from protocol.signed import key_id, keyring
from protocol.strict import Reader

NIK = "3273014509900002"  # NIK-shaped, synthetic
HEAD = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode"
)
TAIL = "00000000:00000000 00:00000000 00000000     0        0"
TCP = f"""{HEAD}
   0: 0100007F:1F90 00000000:0000 0A {TAIL} 1111 1
   1: 00000000:0050 00000000:0000 0A {TAIL} 2222 1
   2: 0100007F:1F91 0100007F:9C40 01 {TAIL} 3333 1
"""
ANY6, LOOP6 = "0" * 32, "0" * 24 + "01000000"
TCP6 = f"""{HEAD}
   0: {LOOP6}:1F92 {ANY6}:0000 0A {TAIL} 4444 1
"""


def test_listeners_are_read_from_proc(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(TCP)
    (tmp_path / "net" / "tcp6").write_text(TCP6)
    got = [(str(lis), lis.inode) for lis in network.listeners(tmp_path)]
    assert got == [("127.0.0.1:8080", 1111), ("0.0.0.0:80", 2222), ("[::1]:8082", 4444)]


def test_tls_findings_name_what_a_listener_should_not_have_done() -> None:
    shakes = [
        network.Handshake("TLS 1.3", True, "TLSv1.3"),
        network.Handshake("TLS 1.2 ECDHE+AEAD", False, "refused"),  # stricter: fine
        network.Handshake("TLS 1.2 weak suites", True, "AES128-SHA"),
        network.Handshake("TLS 1.0", None, "this client cannot offer it"),
    ]
    assert network.tls_findings("gw:8443", shakes) == [
        "gw:8443 accepted TLS 1.2 weak suites (AES128-SHA)"
    ]
    assert network.tls_findings("gw:8443", [network.Handshake("TLS 1.3", False, "x")]) == [
        "gw:8443 refused TLS 1.3 (x)"
    ]


def test_outcome_texts_must_be_the_juknis_verbatim() -> None:
    assert host.check_outcomes().status is Status.PASS
    shown = dict(host.JUKNIS_TEXTS, LOGIN_FAILED="Login gagal")
    result = host.check_outcomes(shown)
    assert result.status is Status.FAIL and "LOGIN_FAILED" in result.detail and result.fix


def test_storage_finds_canaries_and_nik_shapes_in_logs_only(tmp_path: Path) -> None:
    canaries = tmp_path / "canaries.toml"
    canaries.write_text('"ayu.name" = "AYUNINGSIH SIMULASI"\n')
    data = tmp_path / "data"
    (data / "log").mkdir(parents=True)
    (data / "log" / "gateway.log").write_text("request ok\n")
    (data / "store.sqlite3").write_bytes(NIK.encode())  # not a log: only canaries count there
    assert storage.check_storage((data, canaries), canaries).status is Status.PASS
    (data / "log" / "gateway.log").write_text(f"nik={NIK}\n")
    result = storage.check_storage((data,), canaries)
    assert result.status is Status.FAIL and "a NIK-shaped number" in result.detail
    assert NIK not in result.detail
    (data / "log" / "gateway.log").write_text("name=AYUNINGSIH SIMULASI\n")
    result = storage.check_storage((data,), canaries)
    assert "ayu.name (plain)" in result.detail and "AYUNINGSIH" not in result.detail
    assert storage.check_storage((), None).status is Status.SKIP


def test_core_dumps_need_limitcore_in_each_unit(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.service", tmp_path / "bad.service"
    good.write_text("[Service]\nLimitCORE=0\n")
    bad.write_text("[Service]\nLimitNOFILE=1024\n")
    assert host.check_coredumps(set(), (good,)).status is Status.PASS
    result = host.check_coredumps(set(), (good, bad))
    assert result.status is Status.FAIL and "bad.service: no LimitCORE=0" in result.detail


def test_reports_due_present_and_signed(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    keys = keyring(key.public_key())
    pks = {"perpus-a": Pks("perpus-a", frozenset({"nik"}), first_semester="2026-1")}
    today = dt.date(2026, 12, 5)
    result = host.check_reports(tmp_path, pks, keys, today)
    assert result.status is Status.FAIL and "missing: perpus-a 2026-1" in result.detail
    pdf = b"%PDF-1.7 a report"
    (tmp_path / "laporan-perpus-a-2026-1.pdf").write_bytes(pdf)
    sig = sign_report(
        pdf, key, file="laporan-perpus-a-2026-1.pdf", institution="perpus-a",
        semester="2026-1", made_at=1, made_by="admin", annex={},
    )  # fmt: skip
    (tmp_path / "laporan-perpus-a-2026-1.pdf.sig").write_bytes(sig)
    assert host.check_reports(tmp_path, pks, keys, today).status is Status.PASS
    (tmp_path / "laporan-perpus-a-2026-1.pdf").write_bytes(pdf + b" changed")
    assert host.check_reports(tmp_path, pks, keys, today).status is Status.FAIL
    early = {"perpus-a": Pks("perpus-a", frozenset({"nik"}), first_semester="2026-2")}
    assert host.check_reports(tmp_path, early, keys, today).status is Status.SKIP


def test_the_signature_covers_every_file() -> None:
    key = Ed25519PrivateKey.generate()
    files = {"e.json": b"{}", "e.txt": b"LULUS"}
    sig = sign_evidence(files, key, ok=True, made_at=5, made_by="admin")
    st = verify_evidence(sig, files, keyring(key.public_key()), "e.sig")
    assert st.ok and st.kid == key_id(key.public_key())
    with pytest.raises(SignatureMismatch, match="changed after it was signed"):
        verify_evidence(sig, {**files, "e.txt": b"GAGAL"}, keyring(key.public_key()), "e.sig")
    with pytest.raises(SignatureMismatch, match="not found beside"):
        verify_evidence(sig, {"e.json": b"{}"}, keyring(key.public_key()), "e.sig")
    other = Ed25519PrivateKey.generate()
    with pytest.raises(SignatureMismatch, match="not the admin key"):
        verify_evidence(sig, files, keyring(other.public_key()), "e.sig")


def _parse(section: dict[str, object], tmp_path: Path) -> object:
    file = ConfigFile({"evidence": section}, tmp_path, "fleet.toml", ConfigError)
    return parse_evidence(Reader(file.data, error=file.fail), file)


def test_the_section_names_a_wrong_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a duty"):
        _parse({"clauses": {"netwrok": "PKS"}}, tmp_path)
    with pytest.raises(ConfigError, match="not a data element"):
        _parse({"pks": {"perpus-a": {"elements": ["nik", "alamat_lengkap"]}}}, tmp_path)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        _parse({"endpoints": ["gateway"]}, tmp_path)
    parsed = _parse({"pks": {"perpus-a": {"elements": ["nik"]}}, "scan": ["log"]}, tmp_path)
    assert parsed is not None


def test_the_probe_niks_are_well_formed_and_in_sequence() -> None:
    niks = synthetic_niks("330101", 5)
    assert all(is_valid_nik(n) for n in niks)
    assert len({n[:12] for n in niks}) == 1
    assert [int(n[12:]) for n in niks] == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="region"):
        synthetic_niks("990101", 2)
