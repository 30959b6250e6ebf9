"""Firmware tests run under CPython with the stand-ins of MicroPython's modules (and again on
the real MicroPython: test_cpython_on_micropython.py; modules named test_cpython_* are CPython
only).

Puts firmware/stubs (machine, utime, micropython) on sys.path: those names do not exist in
CPython, so nothing is shadowed. Each test runs in its own empty directory, which plays the
MCU's flash (the firmware's FileStore writes relative to the current directory).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

STUBS = Path(__file__).resolve().parents[2] / "firmware" / "stubs"
if str(STUBS) not in sys.path:
    sys.path.insert(0, str(STUBS))


@pytest.fixture(autouse=True)
def _flash_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
