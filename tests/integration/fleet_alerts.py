"""Awaiting an alert in the fleet service's store (another process's database)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fleet.store import StoreConfig, open_store
from fleet.store.base import AlertKind

POLL_S = 0.2


def _open(store_path: Path, kind: AlertKind, device: str) -> bool:
    store = open_store(StoreConfig(store_path))
    try:
        return any(a.kind is kind and a.target == device for a in store.alerts(open_only=True))
    finally:
        store.close()


async def until_alert(
    store_path: Path, kind: AlertKind, device: str, *, raised: bool = True, timeout: float = 20
) -> None:
    """Return once the alert `kind` of `device` is open (`raised`) or no longer open."""
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(_open, store_path, kind, device) is not raised:
        assert time.monotonic() < deadline, f"{kind.value} alert of {device} raised={raised}?"
        await asyncio.sleep(POLL_S)  # polling another process's database
