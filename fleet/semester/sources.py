"""What a semester report reads: the fleet store (usage, registry, audit trail, alerts,
sanctions) and the gateway's admin API (its own counts and today's quota)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fleet.errors import EXIT_USAGE, FleetError
from fleet.gateway import GatewayAdmin
from fleet.semester.figures import Sources
from fleet.semester.period import Semester
from fleet.store.base import DeviceFilter, FleetStore, StoreError

_log = logging.getLogger(__name__)
MAX_ALERTS = 1_000_000


@dataclass(frozen=True, slots=True)
class GatewayCounts:
    """What the gateway said: its counts of one institution per (day, outcome), its daily
    limit now; or why it could not be read."""

    usage: dict[tuple[str, str], int] | None
    daily_limit: int | None
    error: str | None
    known: bool | None = None  # whether the gateway serves the institution (None: unreached)


def gateway_counts(
    client: GatewayAdmin | None, institution: str, semester: Semester
) -> GatewayCounts:
    """The gateway's counts of the semester; never raises (the report says what failed)."""
    if client is None:
        return GatewayCounts(None, None, "no [gateway] in fleet.toml: the counts are unreconciled")
    first, last = semester.first_day.isoformat(), semester.last_day.isoformat()
    try:
        with client:
            if institution not in client.institutions():
                return GatewayCounts(None, None, None, known=False)
            rows = client.usage_counts(first, last, institution)
            quota = client.quota(institution)
    except FleetError as err:
        _log.warning("semester report: gateway unreachable: %s", err)
        return GatewayCounts(None, None, str(err))
    usage: dict[tuple[str, str], int] = {}
    for (inst, day, outcome), n in rows.items():
        if inst == institution:
            usage[day, outcome] = usage.get((day, outcome), 0) + n
    return GatewayCounts(usage, None if quota is None else quota[1], None, known=True)


def collect(
    store: FleetStore,
    counts: GatewayCounts,
    institution: str,
    semester: Semester,
    *,
    made_at: int,
    admin: str,
) -> Sources:
    """Read the store for one institution's semester; FleetError (usage) for an institution
    that neither the registry nor the gateway knows."""
    try:
        rows = store.fleet(DeviceFilter(institution=institution))
        if not rows and counts.known is not True:
            known = sorted({r.entry.institution for r in store.fleet() if r.entry is not None})
            hint = ", ".join(known[:10]) or "none registered"
            raise FleetError(
                f"--institution {institution}: no kiosk of this institution in the registry"
                f"{'' if counts.known is None else ' and the gateway does not serve it'}"
                f" (institutions: {hint})",
                EXIT_USAGE,
            )
        kiosks = {r.device: r.entry.state for r in rows if r.entry is not None}
        summary = store.usage_summary(
            institution, semester.first_day.isoformat(), semester.last_day.isoformat()
        )
        label = f"institution:{institution}"
        audit = [
            line
            for line in store.audit_lines()
            if line.entry.target in kiosks or (line.entry.target == label)
        ]
        alerts = [
            a
            for a in store.alerts(open_only=False, limit=MAX_ALERTS)
            if a.target in kiosks or a.target == institution
        ]
        sanctions = [s for s in store.sanctions() if s.target in kiosks or s.target == institution]
    except StoreError as err:
        raise FleetError(f"the fleet store: {err}") from err
    return Sources(
        institution=institution,
        semester=semester,
        made_at=made_at,
        admin=admin,
        usage=summary.totals,
        kiosks_by_month=summary.kiosks_by_month,
        kiosk_states=kiosks,
        audit=audit,
        alerts=alerts,
        sanctions=sanctions,
        gateway_usage=counts.usage,
        gateway_error=counts.error,
        daily_limit=counts.daily_limit,
    )
