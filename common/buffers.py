"""Personal-data buffers: held in `bytearray`s their owner wipes (overwrite, then drop).

A `str` or `bytes` cannot be overwritten and stays in memory until the allocator reuses it, so
personal data lives in bytearrays for as long as it can, and every owner ends with `wipe`.
"""

from __future__ import annotations

import contextlib
from collections.abc import MutableMapping
from typing import TypeVar

_K = TypeVar("_K")


def wipe(*buffers: bytearray) -> None:
    """Overwrite each buffer with zeros, then empty it (if no view on it is still alive)."""
    for buf in buffers:
        buf[:] = bytes(len(buf))
        with contextlib.suppress(BufferError):  # a view still points at it: it is zeros now
            del buf[:]


def wipe_all(buffers: MutableMapping[_K, bytearray]) -> None:
    """Wipe every buffer of a mapping, then clear the mapping."""
    wipe(*buffers.values())
    buffers.clear()
