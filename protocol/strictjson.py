"""JSON of the MQTT payloads and signed documents: one canonical encoding, and a strict decoding
(no duplicate keys, no NaN or Infinity and, where asked, no floats)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def canonical_dumps(obj: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def strict_loads(raw: bytes | bytearray, floats: bool = True) -> Any:
    """Decode UTF-8 JSON strictly; ValueError (UnicodeDecodeError is one) or RecursionError."""
    return json.loads(
        raw.decode("utf-8"),
        object_pairs_hook=_no_duplicates,
        parse_constant=_reject_constant,
        parse_float=None if floats else _reject_float,
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate key")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError("non-finite number")


def _reject_float(text: str) -> Any:
    raise ValueError("float")
