"""The handover record (BAST) as a printable PDF in Indonesian, made by Typst as the semester
report is (fleet/semester/document.py): texts as data.json, laid out by handover.typ."""

from __future__ import annotations

import json
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from fleet.errors import FleetError
from fleet.semester.document import when
from protocol import handover as codec

_KIND_ID = {"handover": "Serah Terima", "decommission": "Penarikan dari Layanan"}
_RESULT_ID = {"pass": "lulus", "fail": "gagal", "skipped": "tidak diuji"}
_TEST_ID = {
    "card": "Kartu uji melalui SAM",
    "finger": "Pencocokan sidik jari uji",
    "indicators": "Lampu dan bel",
    "tamper": "Sakelar tamper",
    "mcu": "Detak jantung dan kunci tamper MCU",
    "gateway": "Kesehatan gateway (sertifikat baru)",
    "broker": "Perjalanan pulang-pergi broker",
}


def texts(record: dict[str, Any]) -> dict[str, Any]:
    """What the page shows, from a countersigned record."""
    body = record["body"]
    fleet = record.get("fleet") or {}
    return {
        "title": f"Berita Acara {_KIND_ID.get(body['kind'], body['kind'])} Kios Platform Bersama",
        "subtitle": f"Nomor urut {body['seq']} untuk kios {body['device']}",
        "intro": (
            "Pada waktu dan tempat di bawah ini, teknisi dan wakil lembaga menyatakan bahwa kios"
            " berikut telah dipasang, diuji dan diserahterimakan sebagaimana tercatat."
            if body["kind"] == "handover"
            else "Pada waktu dan tempat di bawah ini, kios berikut ditarik dari layanan:"
            " sertifikatnya dicabut, kuncinya dimusnahkan dan datanya dihapus."
        ),
        "meta": [
            ["Kios (ID perangkat)", body["device"]],
            ["Nomor seri", body["serial"]],
            ["Lembaga", body["institution"]],
            ["Lokasi", body["location"] or "-"],
            ["Waktu", when(body["at"])],
            ["Sidik jari sertifikat", body["cert_fingerprint"]],
            ["Alasan", body["reason"] or "-"],
        ],
        "bindings": [[k, str(v)] for k, v in sorted(body["bindings"].items())] or [["-", "-"]],
        "selftest": [
            [_TEST_ID.get(k, k), _RESULT_ID.get(v, v)] for k, v in sorted(body["selftest"].items())
        ]
        or [["-", "-"]],
        "signatures": [
            ["Kios (kunci token)", "ada" if record["kiosk_sig"] else "tidak ada (kunci musnah)"],
            ["Teknisi", body["technician"]],
            ["Layanan armada", when(fleet["at"]) if "at" in fleet else "-"],
            ["Hash berita acara", codec.record_hash(record)],
            ["Hash sebelumnya", body["prev"]],
        ],
        "technician": body["technician"],
        "representative": body["representative"],
        "footer": "Berita acara ini ditandatangani secara elektronik; periksa rantainya dengan"
        f" `kiosk-fleet device show {body['device']}`.",
    }


def render_pdf(record: dict[str, Any]) -> bytes:
    """The record's page as PDF bytes (FleetError when Typst fails)."""
    import typst

    template = resources.files("fleet.provisioning").joinpath("handover.typ").read_bytes()
    with tempfile.TemporaryDirectory(prefix="handover-") as tmp:
        folder = Path(tmp)
        (folder / "data.json").write_text(json.dumps(texts(record), ensure_ascii=False))
        (folder / "main.typ").write_bytes(template)
        try:
            pdf = typst.compile(
                str(folder / "main.typ"),
                root=str(folder),
                timestamp=record["body"]["at"],
                ignore_system_fonts=True,
            )
        except typst.TypstError as err:
            raise FleetError(f"the handover PDF could not be made (Typst): {err.message}") from err
    assert isinstance(pdf, bytes)
    return pdf
