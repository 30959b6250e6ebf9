"""The supervisor MCU's clear key, escrowed at the fleet service, and the tamper clear it allows.

    PUT  /provision/v1/devices/{device}/mcu-key    {"key": 64 hex}   technician or the kiosk
    POST /provision/v1/devices/{device}/mcu-clear  {"counter": n, "tamper_seq": s}
                                                   technician or admin: {"payload": hex}

`kiosk-provision` escrows the key before it sets it in the MCU (SET_KEY), so the key is never
only in the MCU. A kiosk's key is kept once: a second, different key is refused (the MCU accepts
SET_KEY once in its life). A clear payload (hardware.supervisor.clear_payload: HMAC over the
counter and the tamper sequence the kiosk reports) authorises one tamper clear; the key itself
never leaves the fleet service again. Every clear handed out is logged with who asked.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from fleet.ca.errors import EnrolError
from fleet.store.base import FleetStore
from protocol.mcu_clear import clear_payload

_log = logging.getLogger(__name__)
KEY_ROUTE = "/provision/v1/devices/{device}/mcu-key"
CLEAR_ROUTE = "/provision/v1/devices/{device}/mcu-clear"


async def json_body(request: web.Request) -> dict[str, Any]:
    """A small JSON object body (EnrolError 400 otherwise)."""
    try:
        doc = json.loads(await request.content.read(4096))
        if not isinstance(doc, dict):
            raise TypeError
    except (ValueError, TypeError):
        raise EnrolError(400, "bad_request", "the body must be a JSON object") from None
    return doc


def escrow(store: FleetStore, device: str, key: bytes, at: int) -> None:
    """Keep the key (EnrolError 404 unknown kiosk, 409 another key kept)."""
    from fleet.provisioning.handover import handover_store

    if store.device(device) is None:
        raise EnrolError(404, "unknown_device", f"{device} is not registered")
    kept = handover_store(store).escrow_mcu_key(device, key, at)
    if kept != key:
        raise EnrolError(
            409,
            "key_kept",
            f"another MCU key of {device} is escrowed: the MCU accepts one key in its life",
        )


def clear_for(store: FleetStore, device: str, counter: int, tamper_seq: int) -> bytes:
    """The payload of one authorised tamper clear (EnrolError 404 without an escrowed key)."""
    from fleet.provisioning.handover import handover_store

    key = handover_store(store).escrowed_mcu_key(device)
    if key is None:
        raise EnrolError(404, "no_key", f"no MCU key of {device} is escrowed")
    return clear_payload(key, counter, tamper_seq)


def parse_key(doc: dict[str, Any]) -> bytes:
    """The 32-byte key of a PUT body."""
    text = doc.get("key")
    try:
        if not isinstance(text, str) or len(text) != 64:
            raise ValueError
        return bytes.fromhex(text)
    except ValueError:
        raise EnrolError(400, "bad_key", 'the body must be {"key": "<64 hex digits>"}') from None


def parse_clear(doc: dict[str, Any]) -> tuple[int, int]:
    """(counter, tamper_seq) of a clear request."""
    values = doc.get("counter"), doc.get("tamper_seq")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32 for v in values):
        raise EnrolError(400, "bad_request", 'the body must be {"counter": n, "tamper_seq": s}')
    return int(values[0]), int(values[1])  # type: ignore[arg-type]
