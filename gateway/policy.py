"""Per-institution policy: PKS elements, PoC approval, status, and the sanctions of the regulation.

The same JSON shape is read from the config file, written by the admin API and persisted in the
store, so one strict parser serves all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from protocol.elements import DataElement

PRE_POC_DAILY_QUOTA = 200
_POLICY_KEYS = {"elements", "poc_approved", "active", "user_active", "sanctions"}
_SANCTION_KEYS = {"quota", "user_deactivated", "network_cut", "deactivated_devices"}
MAX_QUOTA = 10_000_000


class PolicyError(ValueError):
    """A policy document that does not follow its schema; `key` names where."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Sanctions:
    """Sanctions in force: quota reduced to N, user ID deactivated, network cut, readers off."""

    quota: int | None = None
    user_deactivated: bool = False
    network_cut: bool = False
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
                "deactivated_devices": sorted(self.sanctions.deactivated_devices),
            },
        }


def parse_policy(obj: object, where: str = "policy", base: Policy | None = None) -> Policy:
    """Read a policy document; with `base`, missing keys keep the base's values (a patch)."""
    top = _table(obj, where, _POLICY_KEYS)
    if base is None and "elements" not in top:
        raise PolicyError(f"{where}.elements", "missing")
    policy = base or Policy(elements=frozenset())
    if "elements" in top:
        policy = replace(policy, elements=_elements(top["elements"], f"{where}.elements"))
    if "poc_approved" in top:
        policy = replace(policy, poc_approved=_bool(top["poc_approved"], f"{where}.poc_approved"))
    if "active" in top:
        policy = replace(policy, active=_bool(top["active"], f"{where}.active"))
    if "user_active" in top:
        policy = replace(policy, user_active=_bool(top["user_active"], f"{where}.user_active"))
    if "sanctions" in top:
        policy = replace(
            policy, sanctions=_sanctions(top["sanctions"], f"{where}.sanctions", policy.sanctions)
        )
    return policy


def _sanctions(obj: object, where: str, base: Sanctions) -> Sanctions:
    top = _table(obj, where, _SANCTION_KEYS)
    out = base
    if "quota" in top:
        quota = top["quota"]
        if quota is not None and (
            not isinstance(quota, int) or isinstance(quota, bool) or not 0 <= quota <= MAX_QUOTA
        ):
            raise PolicyError(f"{where}.quota", f"must be null or an integer 0..{MAX_QUOTA}")
        out = replace(out, quota=quota)
    if "user_deactivated" in top:
        out = replace(
            out, user_deactivated=_bool(top["user_deactivated"], f"{where}.user_deactivated")
        )
    if "network_cut" in top:
        out = replace(out, network_cut=_bool(top["network_cut"], f"{where}.network_cut"))
    if "deactivated_devices" in top:
        devices = top["deactivated_devices"]
        if not isinstance(devices, list) or not all(
            isinstance(d, str) and 0 < len(d) <= 64 for d in devices
        ):
            raise PolicyError(f"{where}.deactivated_devices", "must be a list of device ids")
        out = replace(out, deactivated_devices=frozenset(devices))
    return out


def _table(obj: object, where: str, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise PolicyError(where, "must be a table/object")
    unknown = sorted(str(k) for k in obj if k not in keys)
    if unknown:
        shown = unknown[0] if unknown[0].replace("_", "").isalnum() else "<key>"
        raise PolicyError(f"{where}.{shown}", f"unknown key; known: {', '.join(sorted(keys))}")
    return obj


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(where, "must be true or false")
    return value


def _elements(value: object, where: str) -> frozenset[DataElement]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise PolicyError(where, "must be a non-empty list of data element names")
    known = {e.value: e for e in DataElement}
    for name in value:
        if name not in known:
            raise PolicyError(where, f"unknown data element; known: {', '.join(sorted(known))}")
    return frozenset(known[name] for name in value)
