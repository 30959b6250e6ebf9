"""The fleet store in PostgreSQL (psycopg 3, sync): for replicas of the service and large fleets.

One connection, guarded by a lock, opened on first use and again after it broke; autocommit
off, one transaction per method. Appends to the audit chain (and the creation of the schema)
take a transaction-scoped advisory lock, so concurrent appenders in any process never fork it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from fleet.store.base import StoreError
from fleet.store.sql import pyformat
from fleet.store.sqlstore import SqlStore, Tx

_log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
_CHAIN_LOCK = "SELECT pg_advisory_xact_lock(7512015)"  # the audit chain's writers, one at a time
_WHAT_TO_DO = "check that the server runs and accepts this client, and [store] dsn in fleet.toml"


class PostgresStore(SqlStore):
    """The fleet store in a PostgreSQL database."""

    backend = "postgresql"

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self._dsn = dsn
        self.where, self._secret = _describe(dsn)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        try:
            with self._transaction(serialise=True) as tx:
                self._create_schema(tx)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._conn = None
        try:
            conn = psycopg.connect(self._dsn, autocommit=False, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as err:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.where} ({self._reason(err)}): {_WHAT_TO_DO}"
            ) from None
        self._conn = conn
        return conn

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = True, serialise: bool = False) -> Iterator[Tx]:
        with self._lock:
            conn = self._connection()
            try:
                with conn.cursor() as cur:
                    try:
                        if serialise:
                            cur.execute(_CHAIN_LOCK)
                        yield _PostgresTx(cur)
                    except BaseException:
                        if not conn.broken:
                            conn.rollback()
                        raise
                conn.commit()
            except psycopg.Error as err:
                raise self._error(conn, err) from None

    def _error(self, conn: psycopg.Connection[Any], err: psycopg.Error) -> StoreError:
        """A StoreError naming the server and what to do (never the password)."""
        if conn.broken or conn.closed:
            with contextlib.suppress(psycopg.Error):
                conn.close()
            self._conn = None
            return StoreError(
                f"lost the connection to PostgreSQL at {self.where} ({self._reason(err)}):"
                f" {_WHAT_TO_DO}; the next call connects again"
            )
        return StoreError(f"PostgreSQL at {self.where} failed: {self._reason(err)}")

    def _reason(self, err: psycopg.Error) -> str:
        """The first line of the server's or libpq's message, without the password."""
        primary = err.diag.message_primary if err.diag is not None else None
        text = (primary or str(err) or type(err).__name__).strip().splitlines()[0]
        if self._secret:
            text = text.replace(self._secret, "***")
        _log.debug("postgresql error at %s: %s", self.where, text)
        return text


class _PostgresTx:
    """Statements of one PostgreSQL transaction (the `?` of fleet.store.sql turned to `%s`)."""

    locks_rows = True

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Execute; the rows changed."""
        self._cur.execute(pyformat(statement), params)
        return self._cur.rowcount

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Query; the rows."""
        self._cur.execute(pyformat(statement), params)
        return self._cur.fetchall()


def _describe(dsn: str) -> tuple[str, str]:
    """ "host:port/dbname" of a DSN (for messages), and its password (to keep out of them)."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise StoreError(
            "[store] dsn in fleet.toml is not a valid PostgreSQL connection string"
        ) from None
    host = str(info.get("host") or info.get("hostaddr") or "localhost")
    port = str(info.get("port") or 5432)
    dbname = str(info.get("dbname") or info.get("user") or "")
    return f"{host}:{port}/{dbname}", str(info.get("password") or "")
