"""TEMPORARY in-memory store until SqliteStore lands (dev only)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fleet.store.base import *  # noqa: F403
from fleet.store.base import (
    Alert,
    AuditEntry,
    AuditLine,
    DeviceEntry,
    DeviceFilter,
    DeviceState,
    FleetRow,
    FleetStore,
    HealthPoint,
    Ingest,
    IngestResult,
    SanctionInForce,
    Scope,
    UsageDay,
)
from protocol.mqtt import HealthMessage, ReportedMessage, StateMessage, UsageMessage


class MemStore(FleetStore):
    backend = "memory"

    def __init__(self) -> None:
        self.devices: dict[str, DeviceEntry] = {}
        self.health: dict[str, list[HealthPoint]] = {}
        self.usage_: dict[tuple[str, str], UsageDay] = {}
        self.state: dict[str, StateMessage] = {}
        self.rep: dict[str, ReportedMessage] = {}
        self.seen: dict[str, int] = {}
        self.audit: list[AuditLine] = []
        self.sanc: list[SanctionInForce] = []
        self.al: list[Alert] = []

    def close(self) -> None: ...

    def ingest(self, batch: Sequence[Ingest]) -> IngestResult:
        for i in batch:
            m = i.message
            self.seen[i.device] = max(self.seen.get(i.device, 0), i.at)
            if isinstance(m, HealthMessage):
                self.health.setdefault(i.device, []).insert(0, HealthPoint(i.at, m))
            elif isinstance(m, UsageMessage):
                self.usage_[(i.device, m.day)] = UsageDay(
                    i.device, m.day, m.seq, {o.value: n for o, n in m.counts.items()}
                )
            elif isinstance(m, StateMessage):
                self.state[i.device] = m
            elif isinstance(m, ReportedMessage):
                self.rep[i.device] = m
        return IngestResult(len(batch), 0)

    def put_device(self, entry: DeviceEntry) -> None:
        self.devices[entry.device] = entry

    def device(self, device: str) -> DeviceEntry | None:
        return self.devices.get(device)

    def remove_device(self, device: str) -> bool:
        return self.devices.pop(device, None) is not None

    def set_device_state(self, device: str, state: DeviceState) -> bool:
        if device not in self.devices:
            return False
        self.devices[device] = dataclasses.replace(self.devices[device], state=state)
        return True

    def fleet(self, where: DeviceFilter = DeviceFilter()) -> list[FleetRow]:  # noqa: B008
        ids = set(self.devices)
        if where == DeviceFilter():
            ids |= set(self.seen)
        out = []
        for d in sorted(ids):
            e = self.devices.get(d)
            if e is not None:
                if where.institution and e.institution != where.institution:
                    continue
                if where.region and not e.region.startswith(where.region):
                    continue
                if where.state and e.state is not where.state:
                    continue
            h = self.health.get(d)
            st = self.state.get(d)
            out.append(
                FleetRow(
                    d,
                    e,
                    st.status.value if st else None,
                    self.seen.get(d),
                    h[0].health if h else None,
                    self.rep.get(d),
                )
            )
        return out

    def health_history(self, device: str, limit: int = 100) -> list[HealthPoint]:
        return self.health.get(device, [])[:limit]

    def usage(self, *, device=None, institution=None, first="0000-01-01", last="9999-12-31"):  # type: ignore[no-untyped-def]
        return sorted(
            (
                u
                for (d, day), u in self.usage_.items()
                if (device is None or d == device) and first <= day <= last
            ),
            key=lambda u: (u.device, u.day),
        )

    def append_audit(self, entry: AuditEntry) -> AuditLine:
        line = AuditLine(len(self.audit) + 1, entry, "0" * 64, f"{len(self.audit) + 1:064x}")
        self.audit.append(line)
        return line

    def audit_lines(self, target: str | None = None) -> list[AuditLine]:
        return [a for a in self.audit if target is None or a.entry.target == target]

    def put_sanction(self, sanction: SanctionInForce) -> None:
        self.sanc.append(sanction)

    def lift_sanction(self, scope, target, sanction) -> bool:  # type: ignore[no-untyped-def]
        return False

    def sanctions(
        self, scope: Scope | None = None, target: str | None = None
    ) -> list[SanctionInForce]:
        return [
            s
            for s in self.sanc
            if (scope is None or s.scope is scope) and (target is None or s.target == target)
        ]

    def raise_alert(self, alert: Alert) -> bool:
        self.al.insert(0, alert)
        return True

    def clear_alert(self, key: str, at: int) -> Alert | None:
        for i, a in enumerate(self.al):
            if a.key == key and a.cleared_at is None:
                self.al[i] = dataclasses.replace(a, cleared_at=at)
                return self.al[i]
        return None

    def alerts(self, *, open_only: bool = True, limit: int = 1000) -> list[Alert]:
        return [a for a in self.al if not open_only or a.cleared_at is None][:limit]

    def record_delivery(self, key: str, raised_at: int, error: str | None) -> None:
        for i, a in enumerate(self.al):
            if a.key == key and a.raised_at == raised_at:
                if error is None:
                    self.al[i] = dataclasses.replace(a, deliveries=a.deliveries + 1)
                else:
                    self.al[i] = dataclasses.replace(
                        a, delivery_failures=a.delivery_failures + 1, last_delivery_error=error
                    )
