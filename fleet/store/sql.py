"""The fleet store's schema and statements, written once for SQLite and PostgreSQL.

Statements use `?` placeholders (SQLite's); `pyformat` turns them into psycopg's `%s`. Both
engines take the same DDL (BIGINT, DOUBLE PRECISION, BOOLEAN and TEXT columns, partial indexes)
and the same `INSERT ... ON CONFLICT` upserts, so no statement is written twice.
"""

# The statements are built from the constant column lists below, never from input.
# ruff: noqa: S608

from __future__ import annotations

import functools

SCHEMA_VERSION = 3  # 2: enrol_token, certificate, crl_number (fleet/ca); 3: see migrate.py

CREATE_USAGE = """CREATE TABLE IF NOT EXISTS {table} (
        device TEXT NOT NULL, day TEXT NOT NULL, epoch BIGINT NOT NULL, seq BIGINT NOT NULL,
        tz BIGINT NOT NULL, counts TEXT NOT NULL, at BIGINT NOT NULL,
        PRIMARY KEY (device, day, epoch))"""

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)""",
    # the registry
    """CREATE TABLE IF NOT EXISTS device (
        device TEXT PRIMARY KEY, institution TEXT NOT NULL, region TEXT NOT NULL,
        serial TEXT NOT NULL, bindings TEXT NOT NULL, cert_serial TEXT, cert_expires BIGINT,
        state TEXT NOT NULL, registered_at BIGINT NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS device_institution ON device (institution)""",
    # every health report, by (device, seq)
    """CREATE TABLE IF NOT EXISTS health (
        device TEXT NOT NULL, seq BIGINT NOT NULL, at BIGINT NOT NULL, ts BIGINT NOT NULL,
        reader TEXT NOT NULL, sam TEXT NOT NULL, sensor TEXT NOT NULL,
        tamper BOOLEAN NOT NULL, deactivated BOOLEAN NOT NULL,
        gateway_reachable BOOLEAN, gateway_rtt_ms DOUBLE PRECISION, cert_days BIGINT,
        cpu_c DOUBLE PRECISION, mem_pct DOUBLE PRECISION, disk_free_pct DOUBLE PRECISION,
        uptime_s BIGINT NOT NULL, agent TEXT NOT NULL,
        mcu_link_up BOOLEAN, mcu_resets BIGINT, mcu_tamper_latched BOOLEAN,
        storage_ok BOOLEAN, clock_offset_s BIGINT,
        PRIMARY KEY (device, seq))""",
    """CREATE INDEX IF NOT EXISTS health_at ON health (at)""",
    # a kiosk's day of usage per outbox epoch: the highest seq (a day is the sum of its epochs)
    CREATE_USAGE.format(table="usage"),
    """CREATE TABLE IF NOT EXISTS ack (
        device TEXT NOT NULL, command_id TEXT NOT NULL, status TEXT NOT NULL,
        ts BIGINT NOT NULL, reason TEXT NOT NULL, at BIGINT NOT NULL,
        PRIMARY KEY (device, command_id))""",
    # the latest of everything a kiosk sent (what the fleet table shows), one row per device
    """CREATE TABLE IF NOT EXISTS latest (
        device TEXT PRIMARY KEY, last_seen BIGINT NOT NULL,
        presence TEXT, state_ts BIGINT, state_conn TEXT, health_seq BIGINT,
        reported_version BIGINT, reported_deactivated BOOLEAN, reported_sanctions TEXT,
        reported_tampered BOOLEAN, reported_applied_at BIGINT, rejected_reason TEXT,
        rejected_at BIGINT, rejected_version BIGINT)""",
    """CREATE TABLE IF NOT EXISTS audit (
        seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, admin TEXT NOT NULL, action TEXT NOT NULL,
        target TEXT NOT NULL, outcome TEXT NOT NULL, document_sha256 TEXT,
        detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS audit_target ON audit (target)""",
    """CREATE TABLE IF NOT EXISTS sanction (
        scope TEXT NOT NULL, target TEXT NOT NULL, sanction TEXT NOT NULL,
        since BIGINT NOT NULL, by_admin TEXT NOT NULL, reason TEXT NOT NULL, value BIGINT,
        PRIMARY KEY (scope, target, sanction))""",
    """CREATE TABLE IF NOT EXISTS alert (
        key TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL,
        raised_at BIGINT NOT NULL, cleared_at BIGINT,
        deliveries BIGINT NOT NULL DEFAULT 0, delivery_failures BIGINT NOT NULL DEFAULT 0,
        last_delivery_error TEXT,
        PRIMARY KEY (key, raised_at))""",
    """CREATE UNIQUE INDEX IF NOT EXISTS alert_open ON alert (key) WHERE cleared_at IS NULL""",
    """CREATE INDEX IF NOT EXISTS alert_raised ON alert (raised_at)""",
    # version 2: the device CA's single-use enrolment tokens (SHA-256 only) and certificates
    """CREATE TABLE IF NOT EXISTS enrol_token (
        digest TEXT PRIMARY KEY, serial TEXT NOT NULL, device TEXT NOT NULL,
        institution TEXT NOT NULL, issued_by TEXT NOT NULL, issued_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL, used_at BIGINT)""",
    """CREATE TABLE IF NOT EXISTS certificate (
        serial TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, institution TEXT,
        issued_at BIGINT NOT NULL, not_after BIGINT NOT NULL, revoked_at BIGINT, reason TEXT)""",
    """CREATE INDEX IF NOT EXISTS certificate_name ON certificate (name)""",
    """CREATE TABLE IF NOT EXISTS crl_number (issuer TEXT PRIMARY KEY, number BIGINT NOT NULL)""",
)

SELECT_VERSION = "SELECT max(version) FROM schema_version"
INSERT_VERSION = "INSERT INTO schema_version (version) VALUES (?)"

# --- ingest ---------------------------------------------------------------------------------

HEALTH_FIELDS = (
    "seq, ts, reader, sam, sensor, tamper, deactivated, gateway_reachable, gateway_rtt_ms, "
    "cert_days, cpu_c, mem_pct, disk_free_pct, uptime_s, agent, "
    "mcu_link_up, mcu_resets, mcu_tamper_latched, storage_ok, clock_offset_s"
)
# Multi-row statements: `{rows}` is filled by `many` with one "(?, ...)" per row.
INSERT_HEALTH = (
    f"INSERT INTO health (device, at, {HEALTH_FIELDS}) VALUES {{rows}} "
    "ON CONFLICT (device, seq) DO NOTHING RETURNING device, seq, at"
)
UPSERT_USAGE = (
    "INSERT INTO usage (device, day, epoch, seq, tz, counts, at) VALUES {rows} "
    "ON CONFLICT (device, day, epoch) DO UPDATE SET "
    "seq = excluded.seq, tz = excluded.tz, counts = excluded.counts, at = excluded.at "
    "WHERE excluded.seq > usage.seq RETURNING device, at"
)
UPDATE_LATEST = (
    "INSERT INTO latest (device, last_seen, health_seq) VALUES {rows} "
    "ON CONFLICT (device) DO UPDATE SET "
    "last_seen = CASE WHEN excluded.last_seen > latest.last_seen "
    "THEN excluded.last_seen ELSE latest.last_seen END, "
    "health_seq = CASE WHEN excluded.health_seq IS NOT NULL AND "
    "(latest.health_seq IS NULL OR excluded.health_seq > latest.health_seq) "
    "THEN excluded.health_seq ELSE latest.health_seq END"
)
# PostgreSQL: a batch first locks the latest rows of its kiosks in one order (by device), so
# that concurrent writers (the service's replicas) wait for each other instead of deadlocking.
ENSURE_LATEST_MANY = (
    "INSERT INTO latest (device, last_seen) VALUES {rows} ON CONFLICT (device) DO NOTHING"
)
LOCK_LATEST = "SELECT device FROM latest WHERE device IN ({rows}) ORDER BY device FOR UPDATE"
MAX_ROWS = 500  # per multi-row statement (SQLite takes 32,766 parameters, PostgreSQL 65,535)
INSERT_ACK = (
    "INSERT INTO ack (device, command_id, status, ts, reason, at) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (device, command_id) DO NOTHING"
)
TOUCH = (
    "INSERT INTO latest (device, last_seen) VALUES (?, ?) "
    "ON CONFLICT (device) DO UPDATE SET "
    "last_seen = CASE WHEN excluded.last_seen > latest.last_seen "
    "THEN excluded.last_seen ELSE latest.last_seen END"
)
ENSURE_LATEST = (
    "INSERT INTO latest (device, last_seen) VALUES (?, ?) ON CONFLICT (device) DO NOTHING"
)
SELECT_STATE = "SELECT presence, state_ts, state_conn FROM latest WHERE device = ?"
UPDATE_STATE = "UPDATE latest SET presence = ?, state_ts = ?, state_conn = ? WHERE device = ?"
UPDATE_REPORTED = (
    "UPDATE latest SET reported_version = ?, reported_deactivated = ?, reported_sanctions = ?, "
    "reported_tampered = ?, reported_applied_at = ?, rejected_reason = ?, rejected_at = ?, "
    "rejected_version = ? "
    "WHERE device = ? AND (reported_version IS NULL OR reported_version < ?)"
)

# --- registry and the fleet table -----------------------------------------------------------

DEVICE_FIELDS = (
    "device, institution, region, serial, bindings, cert_serial, cert_expires, state, registered_at"
)
PUT_DEVICE = (
    f"INSERT INTO device ({DEVICE_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (device) DO UPDATE SET institution = excluded.institution, "
    "region = excluded.region, serial = excluded.serial, bindings = excluded.bindings, "
    "cert_serial = excluded.cert_serial, cert_expires = excluded.cert_expires, "
    "state = excluded.state, registered_at = excluded.registered_at"
)
SELECT_DEVICE = f"SELECT {DEVICE_FIELDS} FROM device WHERE device = ?"
SELECT_DEVICE_BY_SERIAL = f"SELECT {DEVICE_FIELDS} FROM device WHERE serial = ? ORDER BY device"
DELETE_DEVICE = "DELETE FROM device WHERE device = ?"
SET_DEVICE_STATE = "UPDATE device SET state = ? WHERE device = ?"

_LATEST_COLUMNS = (
    "l.presence, l.last_seen, l.reported_version, l.reported_deactivated, "
    "l.reported_sanctions, l.reported_tampered, l.reported_applied_at, l.rejected_reason, "
    "l.rejected_at, l.rejected_version, "
    + ", ".join(f"h.{name.strip()}" for name in HEALTH_FIELDS.split(","))
)
_HEALTH_JOIN = "LEFT JOIN health h ON h.device = l.device AND h.seq = l.health_seq"
FLEET_REGISTERED = (
    "SELECT "
    + ", ".join(f"d.{name.strip()}" for name in DEVICE_FIELDS.split(","))
    + f", {_LATEST_COLUMNS} FROM device d LEFT JOIN latest l ON l.device = d.device "
    + _HEALTH_JOIN
)
FLEET_UNREGISTERED = (
    "SELECT l.device, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    f"{_LATEST_COLUMNS} FROM latest l {_HEALTH_JOIN} "
    "WHERE NOT EXISTS (SELECT 1 FROM device d WHERE d.device = l.device)"
)

# --- history --------------------------------------------------------------------------------

HEALTH_HISTORY = (
    f"SELECT at, {HEALTH_FIELDS} FROM health WHERE device = ? ORDER BY seq DESC LIMIT ?"
)
PRUNE_HEALTH = (
    "DELETE FROM health WHERE at < ? AND EXISTS (SELECT 1 FROM latest l"
    " WHERE l.device = health.device AND l.health_seq > health.seq)"
)
USAGE = (
    "SELECT u.device, u.day, u.seq, u.counts FROM usage u "
    "LEFT JOIN device d ON d.device = u.device WHERE u.day >= ? AND u.day <= ?"
)

# --- audit ----------------------------------------------------------------------------------

AUDIT_FIELDS = "seq, at, admin, action, target, outcome, document_sha256, detail, prev_hash, hash"
AUDIT_HEAD = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
INSERT_AUDIT = f"INSERT INTO audit ({AUDIT_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
AUDIT_LINES = f"SELECT {AUDIT_FIELDS} FROM audit ORDER BY seq"
AUDIT_LINES_OF = f"SELECT {AUDIT_FIELDS} FROM audit WHERE target = ? ORDER BY seq"

# --- sanctions ------------------------------------------------------------------------------

SANCTION_FIELDS = "scope, target, sanction, since, by_admin, reason, value"
PUT_SANCTION = (
    f"INSERT INTO sanction ({SANCTION_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (scope, target, sanction) DO UPDATE SET "
    "by_admin = excluded.by_admin, reason = excluded.reason, value = excluded.value"
)
LIFT_SANCTION = "DELETE FROM sanction WHERE scope = ? AND target = ? AND sanction = ?"
SANCTIONS = f"SELECT {SANCTION_FIELDS} FROM sanction"

# --- alerts ---------------------------------------------------------------------------------

ALERT_FIELDS = (
    "key, kind, target, detail, raised_at, cleared_at, deliveries, delivery_failures, "
    "last_delivery_error"
)
RAISE_ALERT = (
    "INSERT INTO alert (key, kind, target, detail, raised_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
OPEN_ALERT = f"SELECT {ALERT_FIELDS} FROM alert WHERE key = ? AND cleared_at IS NULL"
CLEAR_ALERT = (
    "UPDATE alert SET cleared_at = ? WHERE key = ? AND raised_at = ? AND cleared_at IS NULL"
)
ALERTS = f"SELECT {ALERT_FIELDS} FROM alert"
ALERTS_OPEN = " WHERE cleared_at IS NULL"
ALERTS_ORDER = " ORDER BY raised_at DESC, key LIMIT ?"
DELIVERED = "UPDATE alert SET deliveries = deliveries + 1 WHERE key = ? AND raised_at = ?"
DELIVERY_FAILED = (
    "UPDATE alert SET delivery_failures = delivery_failures + 1, last_delivery_error = ? "
    "WHERE key = ? AND raised_at = ?"
)


# --- certificates and enrolment tokens ------------------------------------------------------

# column names and statements, no secret in them
TOKEN_FIELDS = "digest, serial, device, institution, issued_by, issued_at, expires_at, used_at"  # noqa: S105
INSERT_TOKEN = f"INSERT INTO enrol_token ({TOKEN_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
SELECT_TOKEN = f"SELECT {TOKEN_FIELDS} FROM enrol_token WHERE digest = ?"
USE_TOKEN = "UPDATE enrol_token SET used_at = ? WHERE digest = ? AND used_at IS NULL"  # noqa: S105
CERT_FIELDS = "serial, kind, name, institution, issued_at, not_after, revoked_at, reason"
INSERT_CERT = f"INSERT INTO certificate ({CERT_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
CERTS = f"SELECT {CERT_FIELDS} FROM certificate"
RELEASE_HOLD = (  # a deactivation's hold (certificateHold) lifted on reactivation
    "UPDATE certificate SET revoked_at = NULL, reason = NULL"
    " WHERE serial = ? AND reason = 'deactivation'"
)
REVOKE_CERT = (
    "UPDATE certificate SET revoked_at = ?, reason = ? WHERE serial = ? AND revoked_at IS NULL"
)
NEXT_CRL_NUMBER = (
    "INSERT INTO crl_number (issuer, number) VALUES (?, 1) "
    "ON CONFLICT (issuer) DO UPDATE SET number = crl_number.number + 1 RETURNING number"
)


@functools.lru_cache(maxsize=256)
def many(template: str, rows: int, width: int) -> str:
    """A multi-row statement of `rows` rows of `width` placeholders."""
    row = "(" + ", ".join("?" * width) + ")"
    return template.format(rows=", ".join([row] * rows))


@functools.lru_cache(maxsize=256)
def pyformat(statement: str) -> str:
    """A statement with psycopg's `%s` placeholders instead of `?` (no `?` or `%` in literals)."""
    return statement.replace("%", "%%").replace("?", "%s")
