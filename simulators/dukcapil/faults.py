"""Faults the simulated upstream can be told to show."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class FaultKind(Enum):
    """How the upstream misbehaves."""

    NONE = "none"
    SLOW = "slow"  # answer after delay_s
    ERROR = "error"  # answer with HTTP `status` (5xx)
    DROP = "drop"  # close the connection without answering
    GARBAGE = "garbage"  # 200 with a body that is not the API's JSON


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault applied to the next `count` API requests (every one while count is None)."""

    kind: FaultKind = FaultKind.NONE
    count: int | None = None
    delay_s: float = 2.0
    status: int = 503

    @classmethod
    def from_json(cls, obj: object) -> Fault:
        """Parse the control endpoint's body, raising ValueError on anything unexpected."""
        if not isinstance(obj, dict) or set(obj) - {"kind", "count", "delay_s", "status"}:
            raise ValueError("fault: an object with kind, count, delay_s, status")
        kind = FaultKind(obj.get("kind", "none"))
        count = obj.get("count")
        delay = obj.get("delay_s", 2.0)
        status = obj.get("status", 503)
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("fault.count: a positive integer or null")
        if not isinstance(delay, int | float) or not 0 <= delay <= 600:
            raise ValueError("fault.delay_s: 0 to 600")
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("fault.status: 400 to 599")
        return cls(kind, count, float(delay), status)
