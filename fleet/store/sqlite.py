"""The default fleet store: one SQLite file (WAL), owner-only, created on first open.

One connection guarded by a lock serves every thread of the process (the service's worker
thread, the CLI); other processes on the same file wait up to `BUSY_TIMEOUT_MS` for a writer.
Writing transactions begin IMMEDIATE, so the audit chain has one writer at a time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fleet.store.base import StoreError
from fleet.store.sqlstore import SqlStore, Tx

_log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
_WHAT_TO_DO = "or point [store] path in fleet.toml at another file"


class SqliteStore(SqlStore):
    """The fleet store in a SQLite file."""

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._db = self._open()
        try:
            with self._transaction() as tx:
                self._create_schema(tx)
        except BaseException:
            self.close()
            raise

    def _open(self) -> sqlite3.Connection:
        try:
            if not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as err:
            raise StoreError(
                f"cannot create or write the SQLite store {self.path} ({err.strerror}:"
                f" {err.filename});"
                f" check the permissions of the file and its folder, {_WHAT_TO_DO}"
            ) from None
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise self._error(err) from None
        try:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            _use_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as err:
            db.close()
            raise self._error(err) from None
        return db

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                db.close()

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = True, serialise: bool = False) -> Iterator[Tx]:
        with self._lock:
            db = self._db
            if db is None:
                raise StoreError(f"the SQLite store {self.path} is closed")
            try:
                db.execute("BEGIN IMMEDIATE" if write or serialise else "BEGIN")
                try:
                    yield _SqliteTx(db)
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as err:
                raise self._error(err) from None

    def _error(self, err: sqlite3.Error) -> StoreError:
        """A StoreError saying what failed with the file and what to do."""
        text = str(err)
        _log.debug("sqlite error on %s: %s", self.path, text)
        if "not a database" in text or "malformed" in text:
            return StoreError(
                f"the SQLite store {self.path} is damaged or not a SQLite database:"
                f" restore it from a backup, {_WHAT_TO_DO}"
            )
        if "locked" in text or "busy" in text:
            return StoreError(
                f"the SQLite store {self.path} stayed locked by another process for"
                f" {BUSY_TIMEOUT_MS // 1000} s: try again"
            )
        if "readonly" in text or "unable to open" in text or "disk I/O" in text:
            return StoreError(
                f"cannot write the SQLite store {self.path} ({text}): check the permissions"
                f" and free space of the file and its folder, {_WHAT_TO_DO}"
            )
        return StoreError(f"the SQLite store {self.path} failed: {text}")


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch a new file to WAL. SQLite answers "locked" at once, without its busy handler,
    while another process switches the same new file: try again until the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class _SqliteTx:
    """Statements of one SQLite transaction."""

    locks_rows = False  # BEGIN IMMEDIATE: one writer at a time

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Execute; the rows changed."""
        return self._db.execute(statement, params).rowcount

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Query; the rows."""
        return self._db.execute(statement, params).fetchall()
