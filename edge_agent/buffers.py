"""Personal data buffers: overwrite, then drop."""

from __future__ import annotations

import contextlib
from collections.abc import MutableMapping
from typing import TypeVar

_K = TypeVar("_K")


def wipe_buffer(buf: bytearray) -> None:
    """Overwrite every byte with zero, then empty the buffer (if nothing else holds a view)."""
    buf[:] = bytes(len(buf))
    with contextlib.suppress(BufferError):  # a driver still holds a memoryview: zeroed is enough
        del buf[:]


def wipe_all(buffers: MutableMapping[_K, bytearray]) -> None:
    """Wipe every buffer of a mapping, then clear the mapping."""
    for buf in buffers.values():
        wipe_buffer(buf)
    buffers.clear()


def is_digits(buf: bytearray, length: int) -> bool:
    """True if `buf` is exactly `length` ASCII digits (checked without making a str)."""
    return len(buf) == length and all(0x30 <= b <= 0x39 for b in buf)
