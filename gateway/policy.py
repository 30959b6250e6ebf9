"""Per-institution policy: PKS elements, PoC approval, status, and the sanctions of the regulation.

The same JSON shape is read from the config file, written by the admin API and persisted in the
store, so one strict parser serves all three.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from protocol.elements import DataElement
from protocol.strict import REQUIRED, Reader, StrictError

PRE_POC_DAILY_QUOTA = 200
_DEVICE = re.compile(r"^.{1,64}\Z", re.DOTALL)  # a device id as the admin typed it
MAX_QUOTA = 10_000_000


class PolicyError(StrictError):
    """A policy document that does not follow its schema; `key` names where."""

    @property
    def key(self) -> str:
        """Where in the document (`institutions.lib-01.sanctions.quota`)."""
        return self.path


@dataclass(frozen=True, slots=True)
class Sanctions:
    """Sanctions in force: quota reduced to N, user ID deactivated, network cut, the reader
    approval revoked (every device of the institution refused), readers off."""

    quota: int | None = None
    user_deactivated: bool = False
    network_cut: bool = False
    approval_revoked: bool = False
    deactivated_devices: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Policy:
    """What an institution may do through the gateway."""

    elements: frozenset[DataElement]
    poc_approved: bool = False
    active: bool = True
    user_active: bool = True
    sanctions: Sanctions = field(default_factory=Sanctions)
    element_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "element_names", frozenset(e.value for e in self.elements))

    def daily_limit(self) -> int | None:
        """Look-ups allowed per local day: 200 before PoC approval, else none unless sanctioned."""
        limit = None if self.poc_approved else PRE_POC_DAILY_QUOTA
        if self.sanctions.quota is not None:
            limit = self.sanctions.quota if limit is None else min(limit, self.sanctions.quota)
        return limit

    def user_usable(self) -> bool:
        """The institution's upstream user ID is active and not deactivated by sanction."""
        return self.user_active and not self.sanctions.user_deactivated

    def to_json(self) -> dict[str, Any]:
        """The JSON form (admin API, persistence)."""
        return {
            "elements": sorted(e.value for e in self.elements),
            "poc_approved": self.poc_approved,
            "active": self.active,
            "user_active": self.user_active,
            "sanctions": {
                "quota": self.sanctions.quota,
                "user_deactivated": self.sanctions.user_deactivated,
                "network_cut": self.sanctions.network_cut,
                "approval_revoked": self.sanctions.approval_revoked,
                "deactivated_devices": sorted(self.sanctions.deactivated_devices),
            },
        }


def parse_policy(obj: object, where: str = "policy", base: Policy | None = None) -> Policy:
    """Read a policy document; with `base`, missing keys keep the base's values (a patch)."""
    r = Reader(obj, where, PolicyError)
    policy = read_policy(r, base)
    r.done()
    return policy


def read_policy(r: Reader, base: Policy | None = None) -> Policy:
    """The policy keys of the table `r` (it may hold more: an institution in the config)."""
    old = base or Policy(elements=frozenset())
    names = r.texts("elements", REQUIRED if base is None else None, min_items=1)
    return Policy(
        elements=old.elements if names is None else _elements(r, names),
        poc_approved=r.boolean("poc_approved", old.poc_approved),
        active=r.boolean("active", old.active),
        user_active=r.boolean("user_active", old.user_active),
        sanctions=_sanctions(r.nested("sanctions", {}), old.sanctions),
    )


def _sanctions(r: Reader, old: Sanctions) -> Sanctions:
    quota = old.quota
    if r.has("quota"):
        quota = None if r.raw("quota") is None else r.integer("quota", lo=0, hi=MAX_QUOTA)
    devices = r.texts("deactivated_devices", None, _DEVICE)
    sanctions = Sanctions(
        quota=quota,
        user_deactivated=r.boolean("user_deactivated", old.user_deactivated),
        network_cut=r.boolean("network_cut", old.network_cut),
        approval_revoked=r.boolean("approval_revoked", old.approval_revoked),
        deactivated_devices=old.deactivated_devices if devices is None else frozenset(devices),
    )
    r.done()
    return sanctions


def _elements(r: Reader, names: list[str]) -> frozenset[DataElement]:
    known = {e.value: e for e in DataElement}
    for name in names:
        if name not in known:
            raise r.error("elements", f"unknown data element; known: {', '.join(sorted(known))}")
    return frozenset(known[name] for name in names)
