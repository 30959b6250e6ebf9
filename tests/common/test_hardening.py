"""Process hardening: core dumps off, checked in a fresh process."""

from __future__ import annotations

import subprocess
import sys


def test_core_dumps_are_off_in_a_hardened_process() -> None:
    code = (
        "import ctypes, resource\n"
        "from common.hardening import disable_core_dumps\n"
        "ok = disable_core_dumps()\n"
        "libc = ctypes.CDLL(None)\n"
        "print(ok, resource.getrlimit(resource.RLIMIT_CORE), libc.prctl(3, 0, 0, 0, 0))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    assert out == ["True", "(0,", "0)", "0"]
