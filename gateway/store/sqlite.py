"""SQLite store for a single gateway: one writer thread, WAL, atomic quota updates.

All statements run on one dedicated thread, so they are serialised; each quota take is also a
single `BEGIN IMMEDIATE` transaction whose UPDATE only succeeds while `used < limit`, which keeps
it exact even if another process opened the same file.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from gateway.errors import StoreError
from gateway.store.base import UsageKey, UsageRow

T = TypeVar("T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS quota (
    institution TEXT NOT NULL, day TEXT NOT NULL, used INTEGER NOT NULL,
    PRIMARY KEY (institution, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage (
    institution TEXT NOT NULL, day TEXT NOT NULL, outcome TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (institution, day, outcome)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy (
    institution TEXT PRIMARY KEY, doc TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS device (
    device_id TEXT PRIMARY KEY, revoked INTEGER NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS binding (
    device_id TEXT PRIMARY KEY, reader_id TEXT NOT NULL, sam_id TEXT NOT NULL,
    updated REAL NOT NULL);
"""
QUOTA_RETENTION_DAYS = 7


class SqliteStore:
    """The default store: a SQLite file."""

    shared = False

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-sqlite")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as err:
            raise StoreError(f"sqlite: {type(err).__name__}") from err

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("sqlite store is not open")
        return self._db

    async def open(self) -> None:
        """Open (create) the database file, owner-only."""
        await self._run(self._open)

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if not self._path.exists():
            os.close(os.open(self._path, os.O_WRONLY | os.O_CREAT, 0o600))
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        cutoff = time.strftime("%Y-%m-%d", time.gmtime(time.time() - QUOTA_RETENTION_DAYS * 86400))
        db.execute("DELETE FROM quota WHERE day < ?", (cutoff,))
        self._db = db

    async def close(self) -> None:
        """Close the database and the worker thread."""
        if self._db is not None:
            await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()

    async def ping(self) -> None:
        """Raise StoreError unless a trivial query works."""
        await self._run(lambda: self._conn().execute("SELECT 1").fetchone())

    async def take_quota(self, institution: str, day: str, limit: int) -> bool:
        """Count one look-up if fewer than limit were counted that day."""
        return await self._run(self._take, institution, day, limit)

    def _take(self, institution: str, day: str, limit: int) -> bool:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR IGNORE INTO quota (institution, day, used) VALUES (?, ?, 0)",
                (institution, day),
            )
            cur = db.execute(
                "UPDATE quota SET used = used + 1 WHERE institution = ? AND day = ? AND used < ?",
                (institution, day, limit),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return cur.rowcount == 1

    async def give_back_quota(self, institution: str, day: str) -> None:
        """Undo one take."""
        await self._run(
            lambda: self._conn().execute(
                "UPDATE quota SET used = used - 1 WHERE institution = ? AND day = ? AND used > 0",
                (institution, day),
            )
        )

    async def quota_used(self, institution: str, day: str) -> int:
        """Look-ups counted that day."""
        row = await self._run(
            lambda: (
                self._conn()
                .execute(
                    "SELECT used FROM quota WHERE institution = ? AND day = ?", (institution, day)
                )
                .fetchone()
            )
        )
        return int(row[0]) if row else 0

    async def add_usage(self, counts: Mapping[UsageKey, int]) -> None:
        """Add answer counts in one transaction."""
        rows = [(i, d, o, n) for (i, d, o), n in counts.items() if n]
        if rows:
            await self._run(self._add_usage, rows)

    def _add_usage(self, rows: list[tuple[str, str, str, int]]) -> None:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO usage (institution, day, outcome, count) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (institution, day, outcome) "
                "DO UPDATE SET count = count + excluded.count",
                rows,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def usage(self, institution: str | None, first_day: str, last_day: str) -> list[UsageRow]:
        """Answer counts between two days."""
        sql = "SELECT institution, day, outcome, count FROM usage WHERE day >= ? AND day <= ?"
        args: tuple[str, ...] = (first_day, last_day)
        if institution is not None:
            sql += " AND institution = ?"
            args += (institution,)
        sql += " ORDER BY institution, day, outcome"
        rows = await self._run(lambda: self._conn().execute(sql, args).fetchall())
        return [UsageRow(str(i), str(d), str(o), int(n)) for i, d, o, n in rows]

    async def policies(self) -> dict[str, dict[str, Any]]:
        """Persisted policy documents."""
        rows = await self._run(
            lambda: self._conn().execute("SELECT institution, doc FROM policy").fetchall()
        )
        return {str(i): json.loads(doc) for i, doc in rows}

    async def save_policy(self, institution: str, doc: dict[str, Any]) -> None:
        """Persist one policy document."""
        text = json.dumps(doc, sort_keys=True)
        await self._run(
            lambda: self._conn().execute(
                "INSERT INTO policy (institution, doc, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (institution) DO UPDATE SET doc = excluded.doc, "
                "updated = excluded.updated",
                (institution, text, time.time()),
            )
        )

    async def revoked_devices(self) -> frozenset[str]:
        """Devices revoked through the admin API."""
        rows = await self._run(
            lambda: self._conn().execute("SELECT device_id FROM device WHERE revoked").fetchall()
        )
        return frozenset(str(r[0]) for r in rows)

    async def revocation_states(self) -> dict[str, tuple[bool, float]]:
        """Every device's last revocation change: (revoked, when)."""
        rows = await self._run(
            lambda: (
                self._conn().execute("SELECT device_id, revoked, updated FROM device").fetchall()
            ),
        )
        return {str(d): (bool(r), float(u)) for d, r, u in rows}

    async def set_device_revoked(
        self, device_id: str, revoked: bool, at: float | None = None
    ) -> None:
        """Revoke or reinstate a device; the change is on disk (fsynced) when this returns."""
        await self._run(self._set_revoked, device_id, revoked, time.time() if at is None else at)

    def _set_revoked(self, device_id: str, revoked: bool, at: float) -> None:
        db = self._conn()
        db.execute("PRAGMA synchronous=FULL")
        try:
            db.execute(
                "INSERT INTO device (device_id, revoked, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (device_id) DO UPDATE SET revoked = excluded.revoked, "
                "updated = excluded.updated",
                (device_id, int(revoked), at),
            )
        finally:
            db.execute("PRAGMA synchronous=NORMAL")

    async def bindings(self) -> dict[str, tuple[str, str]]:
        """Hardware pinned through the admin API."""
        sql = "SELECT device_id, reader_id, sam_id FROM binding"
        rows = await self._run(lambda: self._conn().execute(sql).fetchall())
        return {str(d): (str(r), str(s)) for d, r, s in rows}

    async def set_binding(self, device_id: str, reader_id: str, sam_id: str) -> None:
        """Pin a device; on disk (fsynced) when this returns."""
        await self._run(
            self._durably,
            "INSERT INTO binding (device_id, reader_id, sam_id, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (device_id) DO UPDATE SET reader_id = excluded.reader_id, "
            "sam_id = excluded.sam_id, updated = excluded.updated",
            (device_id, reader_id, sam_id, time.time()),
        )

    async def remove_binding(self, device_id: str) -> None:
        """Forget a device's pin; on disk (fsynced) when this returns."""
        await self._run(self._durably, "DELETE FROM binding WHERE device_id = ?", (device_id,))

    def _durably(self, sql: str, args: tuple[Any, ...]) -> None:
        db = self._conn()
        db.execute("PRAGMA synchronous=FULL")
        try:
            db.execute(sql, args)
        finally:
            db.execute("PRAGMA synchronous=NORMAL")

    def replay_table(self) -> None:
        """One gateway process: sealed answers are kept in its memory."""
        return None
