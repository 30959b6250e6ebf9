"""The fleet service's store: what every backend (SQLite by default, PostgreSQL at scale) keeps,
and the one interface the service, the CLI and the dashboard use.

Counts and states only, never personal data: device ids, institution ids, region codes, hardware
serials, certificate serials, versions, outcome counts, times (Unix seconds, UTC).

Calls are synchronous and each is one transaction; the asyncio service runs them in one worker
thread. Ingest is idempotent:
- health by (device, seq): a second copy is a duplicate;
- usage by (device, day, seq): the row of a day keeps the highest seq; a lower or equal seq
  (replayed, reordered) changes nothing;
- state by (device, ts, conn): the latest ts wins; a Last Will of an older connection id never
  overrides a newer birth;
- reported by version: the highest version wins;
- acks by (device, command id).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from fleet.store.reportrows import ReportRecord as ReportRecord  # re-exported
from fleet.store.reportrows import ReportsPart
from fleet.store.reportrows import UsageSummary as UsageSummary  # re-exported
from protocol.mqtt import AckMessage, HealthMessage, ReportedMessage, StateMessage, UsageMessage
from protocol.signed import Sanction

Payload = HealthMessage | UsageMessage | StateMessage | ReportedMessage | AckMessage


class StoreError(Exception):
    """The store failed or refused (the message names the backend and what to do)."""


# --- ingest ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ingest:
    """One parsed kiosk message as received (`at`: the service's receive time)."""

    device: str
    message: Payload
    at: int


@dataclass(frozen=True, slots=True)
class IngestResult:
    """How many of a batch changed the store, and how many were duplicates or stale."""

    stored: int
    duplicates: int


# --- registry -------------------------------------------------------------------------------


class DeviceState(Enum):
    """A kiosk's state in the registry."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    TAMPERED = "tampered"
    DECOMMISSIONED = "decommissioned"


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """A kiosk in the registry. `region` is a province (2 digits) or regency (4 digits) code.
    `bindings`: hardware serials by part (reader, sam, sensor, mcu), filled by provisioning."""

    device: str
    institution: str
    region: str
    serial: str = ""
    bindings: Mapping[str, str] = field(default_factory=dict)
    cert_serial: str | None = None
    cert_expires: int | None = None
    state: DeviceState = DeviceState.ACTIVE
    registered_at: int = 0


@dataclass(frozen=True, slots=True)
class FleetRow:
    """What the fleet table shows of one kiosk: its registry entry (None for a kiosk heard on
    the broker but not registered) and the latest of what it sent."""

    device: str
    entry: DeviceEntry | None
    presence: str | None  # online, offline, lost (StateMessage.status), None if never heard
    last_seen: int | None  # receive time of its latest message of any kind
    health: HealthMessage | None
    reported: ReportedMessage | None


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    """Filter of the fleet table; None matches everything."""

    institution: str | None = None
    region: str | None = None  # a prefix: "32" matches "32" and "3273"
    state: DeviceState | None = None


# --- history --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HealthPoint:
    """One stored health report."""

    at: int
    health: HealthMessage


@dataclass(frozen=True, slots=True)
class UsageDay:
    """A kiosk's sessions per outcome on one local day (its highest seq)."""

    device: str
    day: str
    seq: int
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        """All sessions of the day."""
        return sum(self.counts.values())


# --- audit trail ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An admin action: who (certificate name), what, on what, the signed document's SHA-256
    (hex) when one was published, and the outcome."""

    at: int
    admin: str
    action: str  # deactivate, reactivate, sanction_set, sanction_lift, command, register, ...
    target: str  # a device id, "institution:<id>", "region:<code>"
    outcome: str  # done, refused, timeout, failed, forced, ...
    document_sha256: str | None = None
    detail: Mapping[str, str | int | bool | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditLine:
    """An entry as stored: its place in the chain and the chain's hashes (hex)."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


# --- sanctions ------------------------------------------------------------------------------


class Scope(Enum):
    """What a sanction applies to."""

    INSTITUTION = "institution"
    DEVICE = "device"


@dataclass(frozen=True, slots=True)
class SanctionInForce:
    """A sanction in force since `since`; `value` is the reduced quota for QUOTA_REDUCED."""

    scope: Scope
    target: str
    sanction: Sanction
    since: int
    by: str
    reason: str
    value: int | None = None


# --- alerts ---------------------------------------------------------------------------------


class AlertKind(Enum):
    """What an alert is about."""

    TAMPER = "tamper"
    LOST = "lost"
    CERT_EXPIRING = "cert_expiring"
    DEVICE_FAULT = "device_fault"
    DEACTIVATION_PENDING = "deactivation_pending"
    QUOTA_NEARLY_USED = "quota_nearly_used"
    SCRAPING = "scraping"
    STORAGE_FAILURE = "storage_failure"
    CLOCK_OFFSET = "clock_offset"
    CERT_EXPIRED = "cert_expired"  # the kiosk's own health says so: it refuses sessions
    REPORT_DUE = "report_due"  # a semester report due within 14 days (or overdue), not made
    BALIKAN_BEHIND = "balikan_behind"  # data balikan sent falls behind FOUND look-ups


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert, open until `cleared_at`. `key` is unique among open alerts ("tamper:KIOSK-1")."""

    key: str
    kind: AlertKind
    target: str
    detail: str
    raised_at: int
    cleared_at: int | None = None
    deliveries: int = 0  # successful webhook deliveries (raise, clear)
    delivery_failures: int = 0
    last_delivery_error: str | None = None


# --- certificates and enrolment tokens (fleet/ca) ------------------------------------------


@dataclass(frozen=True, slots=True)
class EnrolToken:
    """A single-use enrolment token as stored: its SHA-256 (hex), never the token itself."""

    digest: str
    serial: str  # the kiosk's hardware serial (EST username)
    device: str
    institution: str
    issued_by: str  # the technician's certificate name
    issued_at: int
    expires_at: int
    used_at: int | None = None


class TokenUse(Enum):
    """What became of presenting a token."""

    ACCEPTED = "accepted"  # it was valid and is now used
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    OTHER_SERIAL = "other_serial"


@dataclass(frozen=True, slots=True)
class IssuedCert:
    """A certificate the platform's CAs issued. `serial` is hex (lower case); `kind` a role
    (common.roles.Role value)."""

    serial: str
    kind: str
    name: str
    institution: str | None
    issued_at: int
    not_after: int
    revoked_at: int | None = None
    reason: str | None = None


class FleetStore(ReportsPart, ABC):
    """The fleet service's store; every method is one transaction."""

    backend: str  # "sqlite" or "postgresql", for messages

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # ingest
    @abstractmethod
    def ingest(self, batch: Sequence[Ingest]) -> IngestResult:
        """Store a batch of kiosk messages idempotently (see the module's rules)."""

    # registry
    @abstractmethod
    def put_device(self, entry: DeviceEntry) -> None:
        """Add or replace a registry entry."""

    @abstractmethod
    def device(self, device: str) -> DeviceEntry | None:
        """A registry entry, or None."""

    @abstractmethod
    def remove_device(self, device: str) -> bool:
        """Remove a registry entry (made by mistake); its history stays. False if absent."""

    @abstractmethod
    def set_device_state(self, device: str, state: DeviceState) -> bool:
        """Change a registered kiosk's state; False if not registered."""

    @abstractmethod
    def fleet(self, where: DeviceFilter = DeviceFilter()) -> list[FleetRow]:
        """The fleet table, sorted by device id: registered kiosks matching `where`, and (with
        an empty filter) kiosks heard on the broker that are not registered."""

    # history
    @abstractmethod
    def health_history(self, device: str, limit: int = 100) -> list[HealthPoint]:
        """The latest health reports of a kiosk, newest first."""

    def prune_health(self, before: int) -> int:
        """Delete the health reports received before `before` (Unix time), except each kiosk's
        latest; how many were deleted. Health history grows by every report: run it daily."""
        raise NotImplementedError

    @abstractmethod
    def usage(
        self,
        *,
        device: str | None = None,
        institution: str | None = None,
        first: str = "0000-01-01",
        last: str = "9999-12-31",
    ) -> list[UsageDay]:
        """Usage per kiosk and local day (YYYY-MM-DD, inclusive), sorted by device and day."""

    # audit trail
    @abstractmethod
    def append_audit(self, entry: AuditEntry) -> AuditLine:
        """Append to the hash chain (serialised against concurrent writers)."""

    @abstractmethod
    def audit_lines(self, target: str | None = None) -> list[AuditLine]:
        """The chain in order (of one target: its lines only, for display)."""

    def audit_head(self) -> str:
        """The hash of the chain's last line (64 zeros when empty): an admin notes it down to
        detect a truncated tail later (fleet.audit.verify_chain's `expected_head`)."""
        lines = self.audit_lines()
        return lines[-1].hash if lines else "0" * 64

    # sanctions
    @abstractmethod
    def put_sanction(self, sanction: SanctionInForce) -> None:
        """Set (or update the value of) a sanction; `since` stays that of the first setting."""

    @abstractmethod
    def lift_sanction(self, scope: Scope, target: str, sanction: Sanction) -> bool:
        """Lift a sanction; False if it was not in force."""

    @abstractmethod
    def sanctions(
        self, scope: Scope | None = None, target: str | None = None
    ) -> list[SanctionInForce]:
        """Sanctions in force."""

    # alerts
    @abstractmethod
    def raise_alert(self, alert: Alert) -> bool:
        """Open an alert; False (nothing changes) if one with the same key is open."""

    @abstractmethod
    def clear_alert(self, key: str, at: int) -> Alert | None:
        """Clear the open alert with this key; None if none is open."""

    @abstractmethod
    def alerts(self, *, open_only: bool = True, limit: int = 1000) -> list[Alert]:
        """Alerts, newest first."""

    @abstractmethod
    def record_delivery(self, key: str, raised_at: int, error: str | None) -> None:
        """Count a webhook delivery of the alert (key, raised_at): success, or the error."""

    # certificates and enrolment tokens
    def put_enrol_token(self, token: EnrolToken) -> None:
        """Store a new enrolment token (its digest)."""
        raise NotImplementedError

    def use_enrol_token(
        self, digest: str, serial: str, at: int, *, consume: bool = True
    ) -> tuple[TokenUse, EnrolToken | None]:
        """Present a token for a serial: ACCEPTED marks it used when `consume` (once, across
        processes); without `consume` only checks it."""
        raise NotImplementedError

    def device_by_serial(self, serial: str) -> DeviceEntry | None:
        """The registry entry with this hardware serial, or None."""
        raise NotImplementedError

    def put_certificate(self, cert: IssuedCert) -> None:
        """Record an issued certificate."""
        raise NotImplementedError

    def certificates(self, *, kind: str | None = None, name: str | None = None) -> list[IssuedCert]:
        """Issued certificates (of a kind, of a name), oldest first."""
        raise NotImplementedError

    def revoke_certificates(self, serials: Sequence[str], at: int, reason: str) -> list[str]:
        """Mark certificates revoked (those not yet revoked); the serials newly revoked."""
        raise NotImplementedError

    def release_held(self, serials: Sequence[str]) -> list[str]:
        """Lift a deactivation's hold on certificates; the serials released."""
        raise NotImplementedError

    def crl_number(self, issuer: str) -> int:
        """The next CRL number of an issuer (increments, across processes)."""
        raise NotImplementedError
