"""The handover record codec (protocol.handover) against its golden vectors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from protocol import handover as h

DATA = json.loads((Path(__file__).parents[1] / "data" / "handover_records.json").read_text())
DEVICE_CA = x509.load_pem_x509_certificate(DATA["device_ca"].encode())
ADMIN_CA = x509.load_pem_x509_certificate(DATA["admin_ca"].encode())
RECORDS: list[dict[str, Any]] = [v["record"] for v in DATA["records"]]


def _chain(records: list[dict[str, Any]]) -> list[h.ChainEntry]:
    return h.check_chain(records, device_ca=DEVICE_CA, admin_ca=ADMIN_CA)


@pytest.mark.parametrize("vector", DATA["records"], ids=lambda v: v["record"]["body"]["kind"])
def test_golden_vectors(vector: dict[str, Any]) -> None:
    raw = h.encode(vector["record"])
    record = h.decode(raw)
    body = h.verify(record, device_ca=DEVICE_CA, admin_ca=ADMIN_CA)
    h.verify_countersignature(record, DEVICE_CA)
    assert h.encode(body.as_json()).decode() == vector["body_bytes"]
    assert h.record_hash(record) == vector["hash"]
    assert h.encode(record) == raw


def test_the_chain_verifies() -> None:
    entries = _chain(RECORDS)
    assert [e.problems for e in entries] == [(), ()]
    assert [e.kind for e in entries] == ["handover", "decommission"]
    assert entries[1].hash == DATA["records"][1]["hash"]


def test_a_changed_record_is_detected() -> None:
    changed = copy.deepcopy(RECORDS)
    changed[0]["body"]["location"] = "somewhere else"
    entries = _chain(changed)
    assert any("does not verify" in p for p in entries[0].problems)
    assert any("prev" in p for p in entries[1].problems)


def test_a_removed_record_is_detected() -> None:
    entries = _chain(RECORDS[1:])
    assert entries[0].problems


def test_a_changed_countersignature_time_is_detected() -> None:
    changed = copy.deepcopy(RECORDS)
    changed[1]["fleet"]["at"] += 1
    assert any("countersignature" in p for p in _chain(changed)[1].problems)


def test_a_record_signed_by_another_ca_is_refused() -> None:
    with pytest.raises(h.HandoverRecordError, match="kiosk_cert is not issued"):
        h.verify(RECORDS[0], device_ca=ADMIN_CA, admin_ca=ADMIN_CA)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda r: r.pop("technician_sig"), "keys"),
        (lambda r: r["body"].update(kind="party"), "kind"),
        (lambda r: r["body"].update(seq=-1), "seq"),
        (lambda r: r["body"].update(prev="00"), "prev"),
        (lambda r: r["body"].update(device="kiosk 1"), "device"),
        (lambda r: r["body"].update(location="x" * 201), "location"),
        (lambda r: r["body"]["selftest"].update(card="ok"), "selftest"),
        (lambda r: r.update(kiosk_sig=None), "only a decommission"),
        (lambda r: r.update(fleet={"at": 1}), "fleet"),
    ],
)
def test_malformed_records_are_refused(change: Any, match: str) -> None:
    record = copy.deepcopy(RECORDS[0])
    change(record)
    with pytest.raises(h.HandoverRecordError, match=match):
        h.decode(h.encode(record))


def test_non_json_and_oversized_input_is_refused() -> None:
    with pytest.raises(h.HandoverRecordError, match="strict JSON"):
        h.decode(b"{not json")
    with pytest.raises(h.HandoverRecordError, match="too large"):
        h.decode(b" " * (h.MAX_RECORD_BYTES + 1))
