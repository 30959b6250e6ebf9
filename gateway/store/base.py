"""The store interface: quota counters, usage counts, policies and device states.

Nothing personal goes in: keys are institution ids, device ids, local days and outcome codes.
SQLite serves one gateway; Redis serves several replicas (`shared` is then true and each
replica refreshes its cached policies and device states periodically).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

UsageKey = tuple[str, str, str]  # institution, local day (YYYY-MM-DD), outcome code


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Answers of one outcome for one institution on one local day."""

    institution: str
    day: str
    outcome: str
    count: int


class Store(Protocol):
    """Storage behind the gateway. Every method raises gateway.errors.StoreError on failure.

    `take_quota` is atomic: under any concurrency, at most `limit` calls for one institution
    and day return True.
    """

    shared: bool

    async def open(self) -> None:
        """Connect and create what is missing."""
        ...

    async def close(self) -> None:
        """Disconnect."""
        ...

    async def ping(self) -> None:
        """Raise StoreError unless the store answers."""
        ...

    async def take_quota(self, institution: str, day: str, limit: int) -> bool:
        """Count one look-up if fewer than `limit` were counted that day; False if not."""
        ...

    async def give_back_quota(self, institution: str, day: str) -> None:
        """Undo one take_quota (the look-up did not happen)."""
        ...

    async def quota_used(self, institution: str, day: str) -> int:
        """Look-ups counted against the quota that day."""
        ...

    async def add_usage(self, counts: Mapping[UsageKey, int]) -> None:
        """Add answer counts."""
        ...

    async def usage(self, institution: str | None, first_day: str, last_day: str) -> list[UsageRow]:
        """Answer counts between two local days (inclusive), for one or every institution."""
        ...

    async def policies(self) -> dict[str, dict[str, Any]]:
        """Policies set through the admin API, as JSON documents."""
        ...

    async def save_policy(self, institution: str, doc: dict[str, Any]) -> None:
        """Persist an institution's policy document."""
        ...

    async def revoked_devices(self) -> frozenset[str]:
        """Devices revoked through the admin API."""
        ...

    async def set_device_revoked(self, device_id: str, revoked: bool) -> None:
        """Revoke or reinstate a device."""
        ...

    async def bindings(self) -> dict[str, tuple[str, str]]:
        """Hardware pinned through the admin API: device id to (reader id, SAM id)."""
        ...

    async def set_binding(self, device_id: str, reader_id: str, sam_id: str) -> None:
        """Pin a device to a reader and a SAM (replacing any earlier pin)."""
        ...

    async def remove_binding(self, device_id: str) -> None:
        """Forget a device's pin (its config pin, if any, is in force again)."""
        ...

    def replay_table(self) -> ReplayTable | None:
        """The table of sealed answers shared by replicas; None: each process keeps its own."""
        ...


class ReplayTable(Protocol):
    """Request ids being answered or answered, by name (device, route, request id).

    A record is the request's MACs (`macs`, fixed length) followed by its sealed answer, which is
    empty while the request is being answered. Nothing in a record is readable without the
    device's replay key. Every method raises gateway.errors.StoreError on failure.
    """

    async def claim(self, name: str, macs: bytes, hold_s: float) -> bytes | None:
        """Hold `name` for `hold_s` as being answered (None), or return the record it has."""
        ...

    async def peek(self, name: str) -> bytes | None:
        """The record of `name`, if any."""
        ...

    async def seal(self, name: str, macs: bytes, sealed: bytes, ttl_s: float) -> None:
        """Keep the sealed answer of a name this process holds, for `ttl_s`."""
        ...

    async def release(self, name: str, macs: bytes) -> None:
        """Forget a name this process holds and did not answer (a retry is decided afresh)."""
        ...
