"""`cmd/<id>/ack`: how a kiosk answered one signed command."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from protocol.mqtt.payload import NAME, NONCE, SCHEMA_VERSION, read


class AckStatus(Enum):
    """How the kiosk answered a command."""

    DONE = "done"
    REJECTED = "rejected"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AckMessage:
    """The answer to one command."""

    command_id: str
    status: AckStatus
    ts: int
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """The payload object."""
        obj: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "id": self.command_id,
            "status": self.status.value,
            "ts": self.ts,
        }
        if self.reason:
            obj["reason"] = self.reason
        return obj


def parse_ack(raw: bytes) -> AckMessage:
    """A `cmd/<id>/ack` payload."""
    r = read(raw)
    msg = AckMessage(
        command_id=r.text("id", pattern=NONCE),
        status=r.member("status", AckStatus),
        ts=r.integer("ts"),
        reason=r.text("reason", "", NAME),
    )
    r.done()
    return msg
