"""Process hardening: no core dumps (they would hold personal data from memory)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import resource

log = logging.getLogger(__name__)
_PR_SET_DUMPABLE = 4


def disable_core_dumps() -> None:
    """Set RLIMIT_CORE to 0 and mark the process non-dumpable (Linux prctl)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_DUMPABLE, 0) failed; RLIMIT_CORE is 0 anyway")
    except (OSError, AttributeError):
        log.warning("prctl is not available; RLIMIT_CORE is 0 anyway")
