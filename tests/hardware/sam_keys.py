"""A SAM bound to a test host key, and the profile that authenticates with it (in memory: the
kiosk keeps its host key in its token)."""

from __future__ import annotations

from typing import Any

from hardware.card.ktpel import KtpelProfile
from hardware.card.sam_auth import MemoryHostKey
from simulators.card import VirtualSam

HOST_KEY = b"TEST-HOST-KEY-01"  # 16 bytes: AES-128


def bound_sam(activated: bool = True, **kwargs: Any) -> VirtualSam:
    """A virtual SAM bound to HOST_KEY."""
    return VirtualSam(activated, host_key=HOST_KEY, **kwargs)


def profile(chunk_size: int | None = None) -> KtpelProfile:
    """The KTP-el profile authenticating to the SAM with HOST_KEY."""
    key = MemoryHostKey(HOST_KEY)
    if chunk_size is None:
        return KtpelProfile(host_key=key)
    return KtpelProfile(chunk_size, host_key=key)
