"""`reported`: what a kiosk applied of its signed desired state, and what it refused last."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.mqtt.payload import NAME, SCHEMA_VERSION, read


@dataclass(frozen=True, slots=True)
class RejectedDocument:
    """The last signed document the kiosk refused (the reason, the version if it had one)."""

    reason: str
    at: int
    version: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The object."""
        obj: dict[str, Any] = {"reason": self.reason, "at": self.at}
        if self.version is not None:
            obj["version"] = self.version
        return obj


@dataclass(frozen=True, slots=True)
class ReportedMessage:
    """What the kiosk applied: the version of the desired state, and what it is now."""

    version: int
    deactivated: bool
    sanctions: tuple[str, ...]
    tampered: bool
    applied_at: int
    rejected: RejectedDocument | None = None

    def to_json(self) -> dict[str, Any]:
        """The payload object."""
        obj: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "version": self.version,
            "state": "deactivated" if self.deactivated else "active",
            "sanctions": sorted(self.sanctions),
            "tampered": self.tampered,
            "applied_at": self.applied_at,
        }
        if self.rejected is not None:
            obj["rejected"] = self.rejected.to_json()
        return obj


def parse_reported(raw: bytes) -> ReportedMessage:
    """A `reported` payload."""
    r = read(raw)
    version = r.integer("version")
    state = r.choice("state", ("active", "deactivated"))
    sanctions = r.texts("sanctions", pattern=NAME)
    tampered = r.boolean("tampered")
    applied_at = r.integer("applied_at")
    rejected = None
    sub = r.nested("rejected", None)
    if sub is not None:
        rejected = RejectedDocument(
            reason=sub.text("reason", pattern=NAME),
            at=sub.integer("at"),
            version=sub.integer("version", None),
        )
        sub.done()
    r.done()
    return ReportedMessage(
        version, state == "deactivated", tuple(sanctions), tampered, applied_at, rejected
    )
