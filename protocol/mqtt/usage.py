"""`usage`: a kiosk's cumulative sessions per outcome on one local day, from its outbox."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.mqtt.payload import SCHEMA_VERSION, PayloadError, read
from protocol.outcomes import Outcome

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


@dataclass(frozen=True, slots=True)
class UsageMessage:
    """Cumulative sessions per outcome on one local day. Keep the highest `seq` per day: a
    replayed message then changes nothing."""

    seq: int
    day: str
    utc_offset_h: int
    counts: Mapping[Outcome, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All sessions of the day."""
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        """The payload object."""
        return {
            "v": SCHEMA_VERSION,
            "seq": self.seq,
            "day": self.day,
            "tz": self.utc_offset_h,
            "counts": {o.value: n for o, n in self.counts.items()},
        }


def parse_usage(raw: bytes) -> UsageMessage:
    """A `usage` payload."""
    r = read(raw)
    seq = r.integer("seq", lo=1)
    day = r.text("day", pattern=_DAY)
    tz = r.integer("tz", lo=7, hi=9)
    per_outcome = r.nested("counts")
    counts: dict[Outcome, int] = {}
    for key in per_outcome.names():
        try:
            outcome = Outcome(key)
        except ValueError:
            raise PayloadError("counts", "unknown outcome") from None
        counts[outcome] = per_outcome.integer(key)
    r.done()
    return UsageMessage(seq, day, tz, counts)
