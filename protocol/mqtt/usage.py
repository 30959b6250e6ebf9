"""`usage`: a kiosk's cumulative sessions per outcome on one local day, from its outbox."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.mqtt.payload import SCHEMA_VERSION, PayloadError, read
from protocol.outcomes import Outcome

MAX_EPOCH = 2**53  # the outbox's creation time in milliseconds fits with room to spare
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


@dataclass(frozen=True, slots=True)
class UsageMessage:
    """Cumulative sessions per outcome on one local day within one `epoch` (one life of the
    kiosk's outbox: a new epoch when it is made again, after a loss or a truncation; 0 from
    kiosks that send none). Keep the highest `seq` per device, day and epoch, and count a day
    as the sum over its epochs: a replayed message changes nothing, and nothing counted after
    the outbox was made again is ignored."""

    seq: int
    day: str
    utc_offset_h: int
    counts: Mapping[Outcome, int] = field(default_factory=dict)
    epoch: int = 0

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
        } | ({"epoch": self.epoch} if self.epoch else {})


def parse_usage(raw: bytes) -> UsageMessage:
    """A `usage` payload."""
    r = read(raw)
    seq = r.integer("seq", lo=1)
    day = r.text("day", pattern=_DAY)
    tz = r.integer("tz", lo=7, hi=9)
    epoch = r.integer("epoch", 0, 0, MAX_EPOCH)
    per_outcome = r.nested("counts")
    counts: dict[Outcome, int] = {}
    for key in per_outcome.names():
        try:
            outcome = Outcome(key)
        except ValueError:
            raise PayloadError("counts", "unknown outcome") from None
        counts[outcome] = per_outcome.integer(key)
    r.done()
    return UsageMessage(seq, day, tz, counts, epoch)
