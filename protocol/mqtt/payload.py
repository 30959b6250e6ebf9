"""What every MQTT payload shares: compact JSON with a schema version `v`, read strictly."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from protocol.strict import Reader, StrictError
from protocol.strictjson import canonical_dumps, strict_loads

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 8192
NONCE = re.compile(r"^[0-9a-f]{32}\Z")
NAME = re.compile(r"^[a-z_]{1,32}\Z")  # reasons, sanctions: lower-case words
VERSION_TEXT = re.compile(r"^[A-Za-z0-9.+_-]{1,32}\Z")


class PayloadError(StrictError):
    """A payload that does not follow its schema; `field` names where (the value never shown)."""

    @property
    def field(self) -> str:
        """Where in the payload (`gateway.rtt_ms`)."""
        return self.path


def encode(obj: Mapping[str, Any]) -> bytes:
    """Compact JSON with sorted keys (what goes on the wire)."""
    return canonical_dumps(obj)


def decode(raw: bytes) -> dict[str, Any]:
    """A payload's JSON object (no duplicate keys, no NaN); PayloadError otherwise."""
    if not isinstance(raw, bytes | bytearray):
        raise PayloadError("payload", "must be bytes")
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError("payload", "too large")
    try:
        obj = strict_loads(bytes(raw))
    except (ValueError, RecursionError):
        raise PayloadError("payload", "is not a JSON object") from None
    if not isinstance(obj, dict):
        raise PayloadError("payload", "is not a JSON object")
    return obj


def read(raw: bytes) -> Reader:
    """The strict reader of a payload whose schema version was checked."""
    reader = Reader(decode(raw), error=PayloadError)
    if reader.integer("v", lo=1, hi=1000) != SCHEMA_VERSION:
        raise PayloadError("v", "unsupported schema version")
    return reader
