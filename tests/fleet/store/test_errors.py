"""Store failures reach the admin as one StoreError naming the file or server and what to do:
no driver traceback chained to it, never the DSN's password."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psycopg
import pytest

from fleet.store import StoreConfig, open_store
from fleet.store.base import StoreError
from fleet.store.postgres import PostgresStore
from fleet.store.sqlite import SqliteStore
from fleet.store.sqlstore import SqlStore
from tests.postgres import PostgresServer

PASSWORD = "s3cret-Passw0rd"


def _clean(err: StoreError) -> str:
    """The message, after checking nothing is chained to it (the CLI prints one line)."""
    assert err.__cause__ is None and err.__suppress_context__
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_a_new_sqlite_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "fleet.sqlite3"
    open_store(StoreConfig(path)).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for sibling in path.parent.iterdir():
        assert stat.S_IMODE(sibling.stat().st_mode) & 0o077 == 0, sibling.name


def test_an_unwritable_sqlite_path(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    path = tmp_path / "a-file" / "fleet.sqlite3"
    with pytest.raises(StoreError) as caught:
        SqliteStore(path)
    text = _clean(caught.value)
    assert str(path) in text and "[store] path in fleet.toml" in text


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_read_only_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sqlite3"
    SqliteStore(path).close()
    path.chmod(0o400)
    with pytest.raises(StoreError) as caught:
        SqliteStore(path)
    assert str(path) in _clean(caught.value)


def test_a_corrupt_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sqlite3"
    path.write_bytes(b"this is not a database, just some synthetic bytes\n" * 200)
    with pytest.raises(StoreError) as caught:
        SqliteStore(path)
    text = _clean(caught.value)
    assert str(path) in text and "damaged or not a SQLite database" in text
    assert "restore it from a backup" in text


def _newer(store: SqlStore) -> None:
    with store._transaction() as tx:
        tx.run("INSERT INTO schema_version (version) VALUES (99)")
    store.close()


def test_a_sqlite_store_of_a_newer_program(tmp_path: Path) -> None:
    _newer(SqliteStore(tmp_path / "fleet.sqlite3"))
    with pytest.raises(StoreError, match=r"schema version 99, newer .*: upgrade kiosk-fleet"):
        SqliteStore(tmp_path / "fleet.sqlite3")


def test_a_postgresql_store_of_a_newer_program(postgres_dsn: str) -> None:
    _newer(PostgresStore(postgres_dsn))
    with pytest.raises(StoreError, match=r"schema version 99, newer .*: upgrade kiosk-fleet"):
        PostgresStore(postgres_dsn)


def test_an_unreachable_postgresql_server() -> None:
    dsn = f"postgresql://fleet:{PASSWORD}@127.0.0.1:1/fleet"
    with pytest.raises(StoreError) as caught:
        open_store(StoreConfig(Path("unused"), dsn))
    text = _clean(caught.value)
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/fleet" in text
    assert "[store] dsn in fleet.toml" in text
    assert PASSWORD not in text


def test_a_refused_password_is_not_shown(postgres_server: PostgresServer) -> None:
    dsn = f"postgresql://nobody-here:{PASSWORD}@127.0.0.1:{postgres_server.port}/nodb"
    with pytest.raises(StoreError) as caught:
        PostgresStore(dsn)
    text = _clean(caught.value)
    assert f"127.0.0.1:{postgres_server.port}/nodb" in text and PASSWORD not in text


def test_an_invalid_dsn() -> None:
    with pytest.raises(StoreError, match=r"\[store\] dsn in fleet.toml is not a valid") as caught:
        PostgresStore(f"postgresql://fleet:{PASSWORD}@127.0.0.1:notaport/x?bogus=1")
    assert PASSWORD not in _clean(caught.value)


def test_a_lost_connection_fails_once_then_reconnects(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn)
    try:
        assert store.device("KIOSK-SIM-0001") is None
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(StoreError) as caught:
            store.device("KIOSK-SIM-0001")
        assert "the next call connects again" in _clean(caught.value)
        assert store.device("KIOSK-SIM-0001") is None
    finally:
        store.close()
