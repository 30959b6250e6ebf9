"""The retained `state` of a kiosk: online, offline or lost (its Last Will)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from protocol.mqtt.payload import NAME, SCHEMA_VERSION, VERSION_TEXT, read

_CONN = re.compile(r"^[0-9a-f]{8,32}\Z")


class Presence(Enum):
    """The retained `state`: online (birth), offline (clean shutdown) or lost (Last Will)."""

    ONLINE = "online"
    OFFLINE = "offline"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class StateMessage:
    """Presence of a kiosk with the connection id (a Last Will of an older connection is stale)."""

    status: Presence
    conn: str
    ts: int
    agent: str = ""  # agent version (birth only)
    reason: str = ""  # why it went offline (e.g. tamper, shutdown)

    def to_json(self) -> dict[str, Any]:
        """The payload object."""
        obj: dict[str, Any] = {"v": SCHEMA_VERSION, "status": self.status.value}
        obj.update(conn=self.conn, ts=self.ts)
        if self.agent:
            obj["agent"] = self.agent
        if self.reason:
            obj["reason"] = self.reason
        return obj


def parse_state(raw: bytes) -> StateMessage:
    """A `state` payload."""
    r = read(raw)
    msg = StateMessage(
        status=r.member("status", Presence),
        conn=r.text("conn", pattern=_CONN),
        ts=r.integer("ts"),
        agent=r.text("agent", "", VERSION_TEXT),
        reason=r.text("reason", "", NAME),
    )
    r.done()
    return msg
