"""The canary scanner finds every encoded form it promises, and nothing else."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.privacy.scan import needle_forms, scan_bytes, scan_tree

NIK = "3304014508920003"
NAME = "AYUNINGSIH PRAMESWARI KARTAWIJAYA"
NEEDLES = {"ayu.nik": NIK, "ayu.name": NAME}


@pytest.mark.parametrize(
    ("blob", "label", "form"),
    [
        (b"log nik=" + NIK.encode(), "ayu.nik", "plain"),
        (b"name=" + NAME.lower().encode(), "ayu.name", "lower"),
        (b"name=" + NAME.title().encode(), "ayu.name", "title"),
        (NIK.encode().hex().encode(), "ayu.nik", "hex"),
        (NAME.encode().hex().upper().encode(), "ayu.name", "HEX"),
        (base64.b64encode(b'{"nik":"' + NIK.encode() + b'"}'), "ayu.nik", "base64"),
        (base64.b64encode(b"x" + NAME.encode()), "ayu.name", "base64"),
        (base64.b64encode(b"xy" + NAME.encode() + b"z"), "ayu.name", "base64"),
        (base64.urlsafe_b64encode(b"\xfb\xff" + NAME.encode()), "ayu.name", "base64"),
        (NAME.encode("utf-16-le"), "ayu.name", "utf-16-le"),
        (b"\xfe\xff" + NIK.encode("utf-16-be"), "ayu.nik", "utf-16-be"),
    ],
)
def test_each_form_is_found(blob: bytes, label: str, form: str) -> None:
    found = {(lbl, frm) for lbl, frm, _ in scan_bytes(b"\x00noise\n" + blob + b"\nmore", NEEDLES)}
    assert (label, form) in found


def test_tree_walk_gzip_and_clean_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "clean.log").write_text("device=K1 outcome=FOUND\n")
    (tmp_path / "a" / "old.log.gz").write_bytes(gzip.compress(f"nik={NIK}\n".encode()))
    (tmp_path / "db.sqlite3").write_bytes(b"SQLite format 3\x00" + NAME.encode() + b"\x00")
    hits = scan_tree([tmp_path], NEEDLES)
    assert {(h.path.name, h.label, h.form) for h in hits} == {
        ("old.log.gz", "ayu.nik", "gzip/plain"),
        ("db.sqlite3", "ayu.name", "plain"),
    }
    assert all(NIK not in str(h) and NAME not in str(h) for h in hits)
    assert scan_tree([tmp_path / "a" / "b"], NEEDLES) == []


def test_short_needles_are_refused() -> None:
    with pytest.raises(ValueError):
        needle_forms("0003")


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_base64_at_any_alignment(before: bytes, after: bytes) -> None:
    blob = base64.b64encode(before + NIK.encode() + after)
    assert any(form == "base64" for _, form, _ in scan_bytes(blob, [NIK]))
