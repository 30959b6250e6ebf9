"""Process hardening: no core dumps (they would hold personal data from memory)."""

from __future__ import annotations

import ctypes
import ctypes.util
import resource

_PR_SET_DUMPABLE = 4


def disable_core_dumps() -> bool:
    """Set RLIMIT_CORE to 0 and mark the process not dumpable; True if both took effect."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        return int(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False
