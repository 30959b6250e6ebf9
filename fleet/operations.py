"""The admin's actions with the registry and the audit trail around them: deactivate and
reactivate (one kiosk, an institution's, a region's), sanctions at the gateway and on the
kiosks together, commands. Every action appends one audit line per kiosk it touched (and one for
a bulk or institution action), whatever its outcome, refusals included.

A kiosk's desired state follows from the registry and the sanctions in force: deactivated when an
admin deactivated it (registry state not active) or a sanction that stops kiosks is in force
(network_cut or approval_revoked on its institution, reader_deactivated on the kiosk); its signed
document lists every sanction in force for it, those that keep it active included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fleet.actions import DeviceResult, Fleet, Outcome, Progress, StatePlan
from fleet.errors import EXIT_USAGE, FleetError
from fleet.store.base import (
    AuditEntry,
    AuditLine,
    DeviceEntry,
    DeviceFilter,
    DeviceState,
    FleetStore,
    SanctionInForce,
    Scope,
)
from protocol.signed import Sanction

INSTITUTION_SANCTIONS = (
    Sanction.QUOTA_REDUCED,
    Sanction.USER_DEACTIVATED,
    Sanction.NETWORK_CUT,
    Sanction.APPROVAL_REVOKED,
)
DEVICE_SANCTIONS = (Sanction.READER_DEACTIVATED,)
STOPPING = frozenset({Sanction.NETWORK_CUT, Sanction.APPROVAL_REVOKED, Sanction.READER_DEACTIVATED})
_GATEWAY_KEY = {
    Sanction.USER_DEACTIVATED: "user_deactivated",
    Sanction.NETWORK_CUT: "network_cut",
    Sanction.APPROVAL_REVOKED: "approval_revoked",
}


@dataclass(frozen=True, slots=True)
class ActionResult:
    """An action's overall outcome and its kiosks' results."""

    outcome: Outcome
    results: list[DeviceResult]
    gateway: str = "skipped"


def overall(results: Sequence[DeviceResult], gateway_ok: bool = True) -> Outcome:
    """One outcome for many kiosks: the worst of them (failed, refused, timeout, done)."""
    if not gateway_ok:
        return Outcome.FAILED
    for worst in (Outcome.FAILED, Outcome.REFUSED, Outcome.TIMEOUT):
        if any(r.outcome is worst for r in results):
            return worst
    return Outcome.DONE


class Operations:
    """Admin actions over a Fleet (broker, gateway, signing) and a FleetStore."""

    def __init__(
        self, fleet: Fleet, store: FleetStore, *, wall: Callable[[], float] = time.time
    ) -> None:
        self.fleet = fleet
        self.store = store
        self._wall = wall

    @property
    def admin(self) -> str:
        """The admin's certificate name."""
        return self.fleet.name

    def audit(
        self,
        action: str,
        target: str,
        outcome: str,
        sha: str | None = None,
        **detail: str | int | bool | None,
    ) -> AuditLine:
        """Append one line to the audit trail (ids, names, hashes, outcomes only)."""
        entry = AuditEntry(int(self._wall()), self.admin, action, target, outcome, sha, detail)
        return self.store.append_audit(entry)

    # --- registry ---------------------------------------------------------------------------

    def require_known(
        self, devices: Sequence[str], *, force: bool, action: str
    ) -> dict[str, DeviceEntry | None]:
        """Registry entries of `devices`; an unknown id (or one in the wrong case) is refused
        (audited, exit 2) unless `force`."""
        entries = {d: self.store.device(d) for d in devices}
        unknown = [d for d, e in entries.items() if e is None]
        if not unknown or force:
            return entries
        known = {row.device.lower(): row.device for row in self.store.fleet() if row.entry}
        device = unknown[0]
        for d in unknown:
            self.audit(action, d, "refused", reason="not_registered")
        if device.lower() in known:
            raise FleetError(
                f"{device} is not in the registry; did you mean {known[device.lower()]}? "
                f"(ids are case-sensitive; --force acts on {device} as typed)",
                EXIT_USAGE,
            )
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise FleetError(
            f"{device}{more} is not in the registry: add it with `kiosk-fleet devices add "
            f"{device} --institution ID --region CODE`, or act on it anyway with --force",
            EXIT_USAGE,
        )

    def matching(self, *, institution: str | None, region: str | None) -> list[DeviceEntry]:
        """Registered kiosks of an institution or a region (prefix), not decommissioned."""
        rows = self.store.fleet(DeviceFilter(institution=institution, region=region))
        return [
            r.entry
            for r in rows
            if r.entry is not None and r.entry.state is not DeviceState.DECOMMISSIONED
        ]

    # --- desired state ----------------------------------------------------------------------

    def sanctions_of(self) -> Callable[[str, DeviceEntry | None], tuple[Sanction, ...]]:
        """Every sanction in force for a kiosk (its institution's and its own), from one read
        of the sanctions in force."""
        by_target: dict[tuple[Scope, str], set[Sanction]] = {}
        for s in self.store.sanctions():
            by_target.setdefault((s.scope, s.target), set()).add(s.sanction)

        def of(device: str, entry: DeviceEntry | None) -> tuple[Sanction, ...]:
            found = set(by_target.get((Scope.DEVICE, device), ()))
            if entry is not None:
                found |= by_target.get((Scope.INSTITUTION, entry.institution), set())
            return tuple(sorted(found, key=lambda s: s.value))

        return of

    def set_state(
        self,
        devices: Sequence[str],
        *,
        deactivate: bool,
        reason: str,
        force: bool = False,
        timeout: float | None = None,
        use_gateway: bool = True,
        bulk: str | None = None,
        progress: Progress | None = None,
    ) -> ActionResult:
        """Deactivate or reactivate kiosks (revoked or reinstated at the gateway too); `bulk`
        names the institution or region of a bulk action (its own audit line)."""
        action = "deactivate" if deactivate else "reactivate"
        entries = self.require_known(devices, force=force, action=action)
        plans = []
        held: list[DeviceResult] = []  # kiosks a sanction keeps deactivated (bulk reactivation)
        sanctions_of = self.sanctions_of()
        for device, entry in entries.items():
            sanctions = sanctions_of(device, entry)
            stopping = [s.value for s in sanctions if s in STOPPING]
            if not deactivate and stopping:
                self.audit(action, device, "refused", reason=f"sanction_{stopping[0]}", bulk=bulk)
                why = (
                    f"{device} stays deactivated: {stopping[0]} is in force; lift it with "
                    "`kiosk-fleet sanction lift ...` (see `kiosk-fleet status`)"
                )
                if bulk is None:
                    raise FleetError(why, EXIT_USAGE)
                held.append(DeviceResult(device, 0, True, Outcome.REFUSED, None, "skipped", why, 0))
                continue
            revoke = deactivate if use_gateway else None
            plans.append(StatePlan(device, deactivate, reason, sanctions, revoke))
        try:
            results = (
                self.fleet.publish_states(plans, timeout=timeout, progress=progress)
                if plans
                else []
            )
        except FleetError as err:  # the broker unreachable, the key unreadable: still audited
            for device in (p.device for p in plans):
                self.audit(action, device, "failed", error=str(err)[:200], bulk=bulk)
            if bulk is not None:
                self.audit(f"bulk_{action}", bulk, "failed", error=str(err)[:200])
            raise
        for r in results:
            if r.outcome in (Outcome.DONE, Outcome.TIMEOUT) and entries[r.device] is not None:
                state = DeviceState.DEACTIVATED if deactivate else DeviceState.ACTIVE
                self.store.set_device_state(r.device, state)
            self.audit(
                action,
                r.device,
                r.outcome.value,
                r.document_sha256,
                version=r.version,
                gateway=r.gateway,
                forced=entries[r.device] is None,
                bulk=bulk,
            )
        if self.fleet.config.ca is not None:  # held on deactivation, released on reactivation
            self._hold_certificates(
                [r.device for r in results if r.outcome in (Outcome.DONE, Outcome.TIMEOUT)],
                hold=deactivate,
            )
        results += held
        result = ActionResult(overall(results), results)
        if bulk is not None:
            self._summary(f"bulk_{action}", bulk, result)
        return result

    def _hold_certificates(self, devices: Sequence[str], *, hold: bool) -> None:
        """With [ca]: deactivated kiosks' certificates held (certificateHold), reactivated ones'
        released; the CRLs published when something changed."""
        if not devices:
            return
        from fleet.ca.revocation import revoke_and_publish

        reason = "deactivation" if hold else None
        serials, out = revoke_and_publish(self.fleet.config, self.store, devices, reason)
        if not serials:
            return
        failed = out.failed if out is not None else []
        self.audit(
            "hold_certificate" if hold else "release_certificate",
            devices[0] if len(devices) == 1 else f"kiosks:{len(devices)}",
            "failed" if failed else "done",
            reason="deactivation" if hold else "reactivation",
            count=len(serials),
        )
        if failed:
            raise FleetError(
                "certificates changed, but the CRL did not reach: " + "; ".join(failed)
            )

    def _summary(
        self, action: str, target: str, result: ActionResult, **detail: str | int | None
    ) -> None:
        """The audit line of an action over many kiosks: its outcome and the kiosks per outcome."""
        counts = {o.value: sum(r.outcome is o for r in result.results) for o in Outcome}
        self.audit(
            action,
            target,
            result.outcome.value,
            None,
            **detail,
            kiosks=len(result.results),
            **counts,
        )

    def republish(
        self,
        devices: Sequence[tuple[str, DeviceEntry | None]],
        reason: str,
        timeout: float | None,
        progress: Progress | None = None,
    ) -> list[DeviceResult]:
        """Publish each kiosk's state as it follows from the registry and sanctions now."""
        plans = []
        sanctions_of = self.sanctions_of()
        for device, entry in devices:
            sanctions = sanctions_of(device, entry)
            manual = entry is not None and entry.state is not DeviceState.ACTIVE
            deactivate = manual or any(s in STOPPING for s in sanctions)
            plans.append(StatePlan(device, deactivate, reason, sanctions))
        if not plans:
            return []
        return self.fleet.publish_states(plans, timeout=timeout, progress=progress)

    # --- sanctions --------------------------------------------------------------------------

    def sanction(
        self,
        sanction: Sanction,
        *,
        lift: bool,
        institution: str | None = None,
        device: str | None = None,
        quota: int | None = None,
        reason: str,
        force: bool = False,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> ActionResult:
        """Set or lift a sanction at the gateway (the institution's policy) and on the kiosks
        (their signed desired state), and record it in the store."""
        action = "sanction_lift" if lift else "sanction_set"
        gateway = self.fleet.gateway()
        if gateway is None:
            raise FleetError(
                f"a sanction acts at the gateway: {self.fleet.config.source} needs [gateway]",
                EXIT_USAGE,
            )
        if device is not None:
            entries = self.require_known([device], force=force, action=action)
            entry = entries[device]
            if entry is None:
                raise FleetError(
                    f"{device} is not registered, so its institution is unknown: add it with "
                    "`kiosk-fleet devices add` first",
                    EXIT_USAGE,
                )
            institution = entry.institution
            scope, target = Scope.DEVICE, device
            kiosks: list[tuple[str, DeviceEntry | None]] = [(device, entry)]
        else:
            assert institution is not None
            scope, target = Scope.INSTITUTION, institution
            kiosks = [(e.device, e) for e in self.matching(institution=institution, region=None)]
        label = f"institution:{institution}" if scope is Scope.INSTITUTION else target
        with gateway:
            try:
                patch = self._patch(gateway.policy(institution), sanction, lift, device, quota)
                gateway.patch_policy(institution, patch)
            except FleetError:
                self.audit(action, label, "failed", sanction=sanction.value, value=quota)
                raise
        if lift:
            self.store.lift_sanction(scope, target, sanction)
        else:
            now = int(self._wall())
            value = quota if sanction is Sanction.QUOTA_REDUCED else None
            self.store.put_sanction(
                SanctionInForce(scope, target, sanction, now, self.admin, reason, value)
            )
        try:
            results = self.republish(kiosks, reason, timeout, progress)
        except FleetError as err:  # the gateway changed, the kiosks not told: audited
            self.audit(action, label, "failed", sanction=sanction.value, error=str(err)[:200])
            verb = "lifted" if lift else "in force"
            raise FleetError(
                f"{sanction.value} is {verb} at the gateway, but the kiosks were not told: {err} "
                "(run the command again)"
            ) from err
        for r in results:
            self.audit(
                action,
                r.device,
                r.outcome.value,
                r.document_sha256,
                sanction=sanction.value,
                version=r.version,
                deactivated=r.deactivated,
            )
        result = ActionResult(overall(results), results, "done")
        self._summary(action, label, result, sanction=sanction.value, value=quota)
        return result

    @staticmethod
    def _patch(
        policy: dict[str, object],
        sanction: Sanction,
        lift: bool,
        device: str | None,
        quota: int | None,
    ) -> dict[str, object]:
        if sanction is Sanction.QUOTA_REDUCED:
            return {"sanctions": {"quota": None if lift else quota}}
        if sanction is Sanction.READER_DEACTIVATED:
            assert device is not None
            sanctions = policy.get("sanctions")
            now = sanctions.get("deactivated_devices", []) if isinstance(sanctions, dict) else []
            devices = {str(d) for d in now} if isinstance(now, list) else set()
            devices = devices - {device} if lift else devices | {device}
            return {"sanctions": {"deactivated_devices": sorted(devices)}}
        return {"sanctions": {_GATEWAY_KEY[sanction]: not lift}}
