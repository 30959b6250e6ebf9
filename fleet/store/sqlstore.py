"""What SQLite and PostgreSQL share: every FleetStore method, run through a backend's transaction.

A backend supplies one thing, `_transaction`: a context manager that begins a transaction (for
`serialise`, one that excludes every other writer of the audit chain), yields a `Tx` that runs
the statements of fleet.store.sql, commits on success and rolls back on error, translating its
driver's errors into StoreError.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from fleet.audit import GENESIS, chain_hash
from fleet.store import migrate, rows, sql
from fleet.store.base import (
    Alert,
    AuditEntry,
    AuditLine,
    DeviceEntry,
    DeviceFilter,
    DeviceState,
    EnrolToken,
    FleetRow,
    FleetStore,
    HealthPoint,
    Ingest,
    IngestResult,
    IssuedCert,
    SanctionInForce,
    Scope,
    StoreError,
    TokenUse,
    UsageDay,
)
from fleet.store.handoverstore import HandoverQueries, create_handover_tables
from fleet.store.ingest import ingest_batch
from fleet.store.reportstore import ReportQueries, create_report_tables
from protocol.signed import Sanction

_ALL = DeviceFilter()
_MAX_ERROR_TEXT = 300


class Tx(Protocol):
    """One transaction of a backend."""

    @property
    def locks_rows(self) -> bool:
        """True where writers lock rows (PostgreSQL), False where one writer has it all."""

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement; the number of rows it changed."""

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Execute a query; its rows."""


class SqlStore(ReportQueries, HandoverQueries, FleetStore):
    """A FleetStore on a SQL database; subclasses supply the connection and its transactions."""

    def __init__(self) -> None:
        # The fleet table's rows by device, with the objects made of them: a row that did not
        # change since the last call is not made into objects again.
        self._fleet_cache: dict[str, tuple[tuple[Any, ...], FleetRow]] = {}

    @abstractmethod
    def _transaction(
        self, *, write: bool = True, serialise: bool = False
    ) -> AbstractContextManager[Tx]:
        """One transaction (`write`: it may write; `serialise`: no other writer of the audit
        chain meanwhile)."""

    def _create_schema(self, tx: Tx) -> None:
        """Create the tables of a new database, or check the version of an existing one."""
        tx.run(sql.SCHEMA[0])
        found = tx.rows(sql.SELECT_VERSION)[0][0]
        if found is None or found < sql.SCHEMA_VERSION:
            if found is not None:
                migrate.upgrade(tx, found, self.backend)
            for statement in sql.SCHEMA[1:]:
                tx.run(statement)
            tx.run(sql.INSERT_VERSION, (sql.SCHEMA_VERSION,))
        elif found > sql.SCHEMA_VERSION:
            raise StoreError(
                f"the {self.backend} store has schema version {found}, newer than this"
                f" program's {sql.SCHEMA_VERSION}: upgrade kiosk-fleet"
            )

        create_report_tables(tx)  # additive tables, made where missing
        create_handover_tables(tx)

    # --- ingest -----------------------------------------------------------------------------

    def ingest(self, batch: Sequence[Ingest]) -> IngestResult:
        """Store a batch of kiosk messages idempotently, in one transaction."""
        with self._transaction() as tx:
            stored = ingest_batch(tx, batch)
        return IngestResult(stored, len(batch) - stored)

    # --- registry ---------------------------------------------------------------------------

    def put_device(self, entry: DeviceEntry) -> None:
        """Add or replace a registry entry."""
        with self._transaction() as tx:
            tx.run(sql.PUT_DEVICE, rows.device_params(entry))

    def device(self, device: str) -> DeviceEntry | None:
        """A registry entry, or None."""
        with self._transaction(write=False) as tx:
            found = tx.rows(sql.SELECT_DEVICE, (device,))
        return rows.device_from_row(found[0]) if found else None

    def remove_device(self, device: str) -> bool:
        """Remove a registry entry; its history stays. False if absent."""
        with self._transaction() as tx:
            return tx.run(sql.DELETE_DEVICE, (device,)) > 0

    def set_device_state(self, device: str, state: DeviceState) -> bool:
        """Change a registered kiosk's state; False if not registered."""
        with self._transaction() as tx:
            return tx.run(sql.SET_DEVICE_STATE, (state.value, device)) > 0

    def fleet(self, where: DeviceFilter = _ALL) -> list[FleetRow]:
        """The fleet table, sorted by device id (one query joining the latest rows)."""
        conditions: list[str] = []
        params: list[Any] = []
        if where.institution is not None:
            conditions.append("d.institution = ?")
            params.append(where.institution)
        if where.region is not None:
            conditions.append("substr(d.region, 1, ?) = ?")
            params += [len(where.region), where.region]
        if where.state is not None:
            conditions.append("d.state = ?")
            params.append(where.state.value)
        query = sql.FLEET_REGISTERED
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        if where == _ALL:
            query += " UNION ALL " + sql.FLEET_UNREGISTERED
        with self._transaction(write=False) as tx:
            found = tx.rows(query, params)
        cache, fresh = self._fleet_cache, {}
        table = []
        for row in found:
            hit = cache.get(row[0])
            item = hit[1] if hit is not None and hit[0] == row else _fleet_row(row)
            fresh[item.device] = (row, item)
            table.append(item)
        if where == _ALL:
            self._fleet_cache = fresh  # forgets removed kiosks
        else:
            cache.update(fresh)
        table.sort(key=lambda item: item.device)
        return table

    # --- history ----------------------------------------------------------------------------

    def health_history(self, device: str, limit: int = 100) -> list[HealthPoint]:
        """The latest health reports of a kiosk, newest first."""
        with self._transaction(write=False) as tx:
            found = tx.rows(sql.HEALTH_HISTORY, (device, limit))
        points = []
        for row in found:
            health = rows.health_from_row(row[1:])
            assert health is not None
            points.append(HealthPoint(row[0], health))
        return points

    def prune_health(self, before: int) -> int:
        """Delete health reports received before `before`, except each kiosk's latest."""
        with self._transaction() as tx:
            return tx.run(sql.PRUNE_HEALTH, (before,))

    def usage(
        self,
        *,
        device: str | None = None,
        institution: str | None = None,
        first: str = "0000-01-01",
        last: str = "9999-12-31",
    ) -> list[UsageDay]:
        """Usage per kiosk and local day (inclusive), sorted by device and day."""
        query, params = sql.USAGE, [first, last]
        if device is not None:
            query += " AND u.device = ?"
            params.append(device)
        if institution is not None:
            query += " AND d.institution = ?"
            params.append(institution)
        with self._transaction(write=False) as tx:
            found = tx.rows(query, params)
        return _sum_epochs(found)

    # --- audit trail ------------------------------------------------------------------------

    def append_audit(self, entry: AuditEntry) -> AuditLine:
        """Append to the hash chain; concurrent appenders wait for each other."""
        with self._transaction(serialise=True) as tx:
            found = tx.rows(sql.AUDIT_HEAD)
            seq, prev = (found[0][0] + 1, found[0][1]) if found else (1, GENESIS)
            line = AuditLine(seq, entry, prev, chain_hash(prev, seq, entry))
            tx.run(sql.INSERT_AUDIT, rows.audit_params(line))
        return line

    def audit_lines(self, target: str | None = None) -> list[AuditLine]:
        """The chain in order (of one target: its lines only)."""
        with self._transaction(write=False) as tx:
            if target is None:
                found = tx.rows(sql.AUDIT_LINES)
            else:
                found = tx.rows(sql.AUDIT_LINES_OF, (target,))
        return [rows.audit_from_row(row) for row in found]

    def audit_head(self) -> str:
        """The hash of the last line (GENESIS for an empty trail)."""
        with self._transaction(write=False) as tx:
            found = tx.rows(sql.AUDIT_HEAD)
        return str(found[0][1]) if found else GENESIS

    # --- sanctions --------------------------------------------------------------------------

    def put_sanction(self, sanction: SanctionInForce) -> None:
        """Set (or update) a sanction; `since` stays that of the first setting."""
        with self._transaction() as tx:
            tx.run(sql.PUT_SANCTION, rows.sanction_params(sanction))

    def lift_sanction(self, scope: Scope, target: str, sanction: Sanction) -> bool:
        """Lift a sanction; False if it was not in force."""
        with self._transaction() as tx:
            return tx.run(sql.LIFT_SANCTION, (scope.value, target, sanction.value)) > 0

    def sanctions(
        self, scope: Scope | None = None, target: str | None = None
    ) -> list[SanctionInForce]:
        """Sanctions in force."""
        conditions, params = [], []
        if scope is not None:
            conditions.append("scope = ?")
            params.append(scope.value)
        if target is not None:
            conditions.append("target = ?")
            params.append(target)
        query = sql.SANCTIONS
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        with self._transaction(write=False) as tx:
            found = tx.rows(query, params)
        in_force = [rows.sanction_from_row(row) for row in found]
        in_force.sort(key=lambda s: (s.scope.value, s.target, s.sanction.value))
        return in_force

    # --- alerts -----------------------------------------------------------------------------

    def raise_alert(self, alert: Alert) -> bool:
        """Open an alert; False if one with the same key is open."""
        params = (alert.key, alert.kind.value, alert.target, alert.detail, alert.raised_at)
        with self._transaction() as tx:
            return tx.run(sql.RAISE_ALERT, params) > 0

    def clear_alert(self, key: str, at: int) -> Alert | None:
        """Clear the open alert with this key; None if none is open (once across replicas)."""
        with self._transaction() as tx:
            found = tx.rows(sql.OPEN_ALERT, (key,))
            if not found:
                return None
            alert = rows.alert_from_row(found[0])
            if not tx.run(sql.CLEAR_ALERT, (at, key, alert.raised_at)):
                return None  # another replica cleared it meanwhile
        return dataclasses.replace(alert, cleared_at=at)

    def alerts(self, *, open_only: bool = True, limit: int = 1000) -> list[Alert]:
        """Alerts, newest first."""
        query = sql.ALERTS + (sql.ALERTS_OPEN if open_only else "") + sql.ALERTS_ORDER
        with self._transaction(write=False) as tx:
            found = tx.rows(query, (limit,))
        return [rows.alert_from_row(row) for row in found]

    def record_delivery(self, key: str, raised_at: int, error: str | None) -> None:
        """Count a webhook delivery of the alert (key, raised_at): success, or the error."""
        with self._transaction() as tx:
            if error is None:
                tx.run(sql.DELIVERED, (key, raised_at))
            else:
                tx.run(sql.DELIVERY_FAILED, (error[:_MAX_ERROR_TEXT], key, raised_at))

    # --- certificates and enrolment tokens --------------------------------------------------

    def put_enrol_token(self, token: EnrolToken) -> None:
        """Store a new enrolment token (its digest)."""
        with self._transaction() as tx:
            tx.run(sql.INSERT_TOKEN, dataclasses.astuple(token))

    def device_by_serial(self, serial: str) -> DeviceEntry | None:
        """The registry entry with this hardware serial, or None."""
        with self._transaction(write=False) as tx:
            found = tx.rows(sql.SELECT_DEVICE_BY_SERIAL, (serial,))
        return rows.device_from_row(found[0]) if found else None

    def use_enrol_token(
        self, digest: str, serial: str, at: int, *, consume: bool = True
    ) -> tuple[TokenUse, EnrolToken | None]:
        """Present a token for a serial: ACCEPTED marks it used when `consume`."""
        with self._transaction(serialise=True) as tx:
            found = tx.rows(sql.SELECT_TOKEN, (digest,))
            if not found:
                return TokenUse.UNKNOWN, None
            token = EnrolToken(*found[0])
            if token.used_at is not None:
                return TokenUse.USED, token
            if at >= token.expires_at:
                return TokenUse.EXPIRED, token
            if token.serial != serial:
                return TokenUse.OTHER_SERIAL, token
            if not consume:
                return TokenUse.ACCEPTED, token
            if not tx.run(sql.USE_TOKEN, (at, digest)):
                return TokenUse.USED, token
        return TokenUse.ACCEPTED, dataclasses.replace(token, used_at=at)

    def put_certificate(self, cert: IssuedCert) -> None:
        """Record an issued certificate."""
        with self._transaction() as tx:
            tx.run(sql.INSERT_CERT, dataclasses.astuple(cert))

    def certificates(self, *, kind: str | None = None, name: str | None = None) -> list[IssuedCert]:
        """Issued certificates (of a kind, of a name), oldest first."""
        conditions, params = [], []
        for column, value in (("kind", kind), ("name", name)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        query = sql.CERTS + (" WHERE " + " AND ".join(conditions) if conditions else "")
        with self._transaction(write=False) as tx:
            found = tx.rows(query, params)
        certs = [IssuedCert(*row) for row in found]
        certs.sort(key=lambda c: (c.issued_at, c.serial))
        return certs

    def revoke_certificates(self, serials: Sequence[str], at: int, reason: str) -> list[str]:
        """Mark certificates revoked (those not yet revoked); the serials newly revoked."""
        with self._transaction() as tx:
            return [s for s in serials if tx.run(sql.REVOKE_CERT, (at, reason, s)) > 0]

    def release_held(self, serials: Sequence[str]) -> list[str]:
        """Lift a deactivation's hold on certificates; the serials released."""
        with self._transaction() as tx:
            return [s for s in serials if tx.run(sql.RELEASE_HOLD, (s,)) > 0]

    def crl_number(self, issuer: str) -> int:
        """The next CRL number of an issuer."""
        with self._transaction() as tx:
            return int(tx.rows(sql.NEXT_CRL_NUMBER, (issuer,))[0][0])


def _fleet_row(row: Sequence[Any]) -> FleetRow:
    """A row of FLEET_REGISTERED or FLEET_UNREGISTERED."""
    entry = None if row[1] is None else rows.device_from_row(row[:9])
    return FleetRow(
        device=row[0],
        entry=entry,
        presence=row[9],
        last_seen=row[10],
        health=rows.health_from_row(row[19:]),
        reported=rows.reported_from_row(row[11:19]),
    )


def _sum_epochs(found: list[Any]) -> list[UsageDay]:
    """One UsageDay per kiosk and day: its epochs' counts added up (highest seq of any)."""
    merged: dict[tuple[str, str], tuple[int, collections.Counter[str]]] = {}
    for device, day, seq, counts in found:
        kept_seq, total = merged.get((device, day), (0, collections.Counter()))
        total.update(json.loads(counts))
        merged[(device, day)] = (max(kept_seq, seq), total)
    return [
        UsageDay(device, day, seq, dict(total))
        for (device, day), (seq, total) in sorted(merged.items())
    ]
