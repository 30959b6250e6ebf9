"""The store's records as table rows and back (the column orders of fleet.store.sql)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fleet.store.base import (
    Alert,
    AlertKind,
    AuditEntry,
    AuditLine,
    DeviceEntry,
    DeviceState,
    SanctionInForce,
    Scope,
)
from protocol.mqtt import (
    DeviceStatus,
    HealthMessage,
    Presence,
    RejectedDocument,
    ReportedMessage,
    StateMessage,
)
from protocol.signed import Sanction
from protocol.strictjson import canonical_dumps

Row = Sequence[Any]

# A state's rank among messages of one connection with the same ts: its end beats its birth.
_RANK = {Presence.ONLINE.value: 0, Presence.OFFLINE.value: 1, Presence.LOST.value: 1}


def to_json_text(obj: Any) -> str:
    """Canonical JSON text of a column."""
    return canonical_dumps(dict(obj)).decode()


# Lookups instead of calls: the fleet table turns 10,000 rows into objects at once.
_BOOL: dict[Any, bool | None] = {None: None, 0: False, 1: True}
_STATUS = {status.value: status for status in DeviceStatus}
_DEVICE_STATE = {state.value: state for state in DeviceState}


# --- health ---------------------------------------------------------------------------------


def health_params(device: str, at: int, msg: HealthMessage) -> tuple[Any, ...]:
    """INSERT_HEALTH's parameters."""
    return (
        device,
        at,
        msg.seq,
        msg.ts,
        msg.reader.value,
        msg.sam.value,
        msg.sensor.value,
        msg.tamper,
        msg.deactivated,
        msg.gateway_reachable,
        msg.gateway_rtt_ms,
        msg.cert_days_left,
        msg.cpu_temp_c,
        msg.mem_used_pct,
        msg.disk_free_pct,
        msg.uptime_s,
        msg.agent,
        msg.mcu_link_up,
        msg.mcu_resets,
        msg.mcu_tamper_latched,
        msg.storage_ok,
        msg.clock_offset_s,
    )


def health_from_row(row: Row) -> HealthMessage | None:
    """A HealthMessage from the columns of HEALTH_FIELDS (None if the join found none)."""
    if row[0] is None:
        return None
    return HealthMessage(
        row[0],  # seq
        row[1],  # ts
        _STATUS[row[2]],  # reader
        _STATUS[row[3]],  # sam
        _STATUS[row[4]],  # sensor
        _BOOL[row[5]],  # type: ignore[arg-type]  # tamper (NOT NULL)
        _BOOL[row[6]],  # type: ignore[arg-type]  # deactivated (NOT NULL)
        _BOOL[row[7]],  # gateway_reachable
        row[8],  # gateway_rtt_ms (DOUBLE PRECISION: a float or None)
        row[9],  # cert_days_left
        row[10],  # cpu_temp_c
        row[11],  # mem_used_pct
        row[12],  # disk_free_pct
        row[13],  # uptime_s
        row[14],  # agent
        _BOOL[row[15]],  # mcu_link_up
        row[16],  # mcu_resets
        _BOOL[row[17]],  # mcu_tamper_latched
        _BOOL[row[18]],  # storage_ok
        row[19],  # clock_offset_s
    )


# --- state and reported ---------------------------------------------------------------------


def state_applies(current: Row | None, msg: StateMessage) -> bool:
    """Whether `msg` replaces the stored (presence, state_ts, state_conn): a later ts wins; at
    the same ts, a connection's end beats its birth, and another connection's birth beats an end
    (a Last Will of an older connection never overrides a newer birth)."""
    if current is None or current[1] is None:
        return True
    presence, ts, conn = current
    if msg.ts != ts:
        return bool(msg.ts > ts)
    if msg.conn == conn:
        return _RANK[msg.status.value] > _RANK[presence]
    return msg.status is Presence.ONLINE and presence != Presence.ONLINE.value


def reported_params(msg: ReportedMessage) -> tuple[Any, ...]:
    """UPDATE_REPORTED's leading parameters."""
    rejected = msg.rejected
    return (
        msg.version,
        msg.deactivated,
        ",".join(sorted(msg.sanctions)),
        msg.tampered,
        msg.applied_at,
        None if rejected is None else rejected.reason,
        None if rejected is None else rejected.at,
        None if rejected is None else rejected.version,
    )


def reported_from_row(row: Row) -> ReportedMessage | None:
    """A ReportedMessage from the reported_* and rejected_* columns of `latest`."""
    if row[0] is None:
        return None
    rejected = None if row[5] is None else RejectedDocument(row[5], row[6], row[7])
    sanctions = tuple(row[2].split(",")) if row[2] else ()
    return ReportedMessage(row[0], row[1] == 1, sanctions, row[3] == 1, row[4], rejected)


# --- registry -------------------------------------------------------------------------------


def device_params(entry: DeviceEntry) -> tuple[Any, ...]:
    """PUT_DEVICE's parameters."""
    return (
        entry.device,
        entry.institution,
        entry.region,
        entry.serial,
        to_json_text(entry.bindings),
        entry.cert_serial,
        entry.cert_expires,
        entry.state.value,
        entry.registered_at,
    )


def device_from_row(row: Row) -> DeviceEntry:
    """A DeviceEntry from the columns of DEVICE_FIELDS."""
    bindings = json.loads(row[4]) if row[4] != "{}" else {}
    return DeviceEntry(
        row[0], row[1], row[2], row[3], bindings, row[5], row[6], _DEVICE_STATE[row[7]], row[8]
    )


# --- audit, sanctions, alerts ---------------------------------------------------------------


def audit_params(line: AuditLine) -> tuple[Any, ...]:
    """INSERT_AUDIT's parameters."""
    e = line.entry
    return (
        line.seq,
        e.at,
        e.admin,
        e.action,
        e.target,
        e.outcome,
        e.document_sha256,
        to_json_text(e.detail),
        line.prev_hash,
        line.hash,
    )


def audit_from_row(row: Row) -> AuditLine:
    """An AuditLine from the columns of AUDIT_FIELDS."""
    entry = AuditEntry(row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]))
    return AuditLine(row[0], entry, row[8], row[9])


def sanction_params(s: SanctionInForce) -> tuple[Any, ...]:
    """PUT_SANCTION's parameters."""
    return (s.scope.value, s.target, s.sanction.value, s.since, s.by, s.reason, s.value)


def sanction_from_row(row: Row) -> SanctionInForce:
    """A SanctionInForce from the columns of SANCTION_FIELDS."""
    return SanctionInForce(Scope(row[0]), row[1], Sanction(row[2]), row[3], row[4], row[5], row[6])


def alert_from_row(row: Row) -> Alert:
    """An Alert from the columns of ALERT_FIELDS."""
    return Alert(row[0], AlertKind(row[1]), row[2], row[3], row[4], row[5], row[6], row[7], row[8])
