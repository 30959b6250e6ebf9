"""The audit trail's hash chain: computed and verified (pure), kept by both stores, broken by an
edited, removed or reordered line, and never forked by concurrent appenders."""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.audit import GENESIS, canonical_entry, chain_hash, head, next_line, verify_chain
from fleet.store.base import AuditEntry, AuditLine, FleetStore
from fleet.store.sqlite import SqliteStore
from fleet.store.sqlstore import SqlStore
from tests.fleet.store.appender import append_entries, open_at_once


def _entry(n: int, target: str = "KIOSK-SIM-0001") -> AuditEntry:
    return AuditEntry(
        at=1_700_000_000 + n,
        admin="admin-ops-1",
        action="deactivate" if n % 2 else "reactivate",
        target=target,
        outcome="done",
        document_sha256="ab" * 32 if n % 3 == 0 else None,
        detail={"version": n, "force": n == 2, "note": None, "reason": "misuse"},
    )


def _chain(n: int) -> list[AuditLine]:
    lines: list[AuditLine] = []
    for i in range(1, n + 1):
        lines.append(next_line(lines[-1] if lines else None, _entry(i)))
    return lines


# --- the chain (pure) -----------------------------------------------------------------------


def test_chain_hash_is_sha256_of_the_canonical_line() -> None:
    entry = AuditEntry(5, "a", "command", "KIOSK-SIM-0001", "done", None, {"b": 1, "a": True})
    assert canonical_entry(entry) == (
        b'{"action":"command","admin":"a","at":5,"detail":{"a":true,"b":1},'
        b'"document_sha256":null,"outcome":"done","target":"KIOSK-SIM-0001"}'
    )
    expected = hashlib.sha256(
        b'{"entry":' + canonical_entry(entry) + b',"prev":"' + GENESIS.encode() + b'","seq":1}'
    ).hexdigest()
    assert chain_hash(GENESIS, 1, entry) == expected
    assert chain_hash(GENESIS, 2, entry) != expected
    assert chain_hash("1" * 64, 1, entry) != expected


def test_an_intact_chain_verifies() -> None:
    lines = _chain(5)
    assert lines[0].prev_hash == GENESIS and lines[0].seq == 1
    assert verify_chain(lines) == []
    assert verify_chain([]) == []
    assert head(lines) == lines[-1].hash and head([]) == GENESIS
    assert verify_chain(lines, expected_head=lines[2].hash) == []  # appended since: fine


def test_an_edited_line_is_named() -> None:
    lines = _chain(4)
    edited = dataclasses.replace(lines[2].entry, outcome="refused")
    lines[2] = dataclasses.replace(lines[2], entry=edited)
    assert verify_chain(lines) == ["seq 3: hash does not match the line (edited)"]


def test_a_rehashed_edit_breaks_the_next_link() -> None:
    lines = _chain(4)
    edited = dataclasses.replace(lines[1].entry, admin="someone-else")
    lines[1] = next_line(lines[0], edited)
    [problem] = verify_chain(lines)
    assert problem.startswith("seq 3: prev_hash does not match")


def test_a_removed_line_is_named() -> None:
    lines = _chain(5)
    del lines[2]
    problems = verify_chain(lines)
    assert problems[0] == "seq 4: seq 3 missing (removed lines)"
    assert problems[1].startswith("seq 4: prev_hash does not match")
    first_gone = verify_chain(_chain(3)[1:])
    assert first_gone[0] == "seq 2: seq 1 missing (removed lines)"


def test_reordered_lines_are_named() -> None:
    lines = _chain(4)
    lines[1], lines[2] = lines[2], lines[1]
    problems = verify_chain(lines)
    assert "seq 3: seq 2 missing (removed lines)" in problems
    assert "seq 2: out of order (comes after seq 3)" in problems


def test_a_truncated_tail_is_found_with_the_head_noted_earlier() -> None:
    lines = _chain(5)
    noted = head(lines)
    [problem] = verify_chain(lines[:3], expected_head=noted)
    assert problem.endswith("(last seq 3): lines were removed from the end")
    assert verify_chain([], expected_head=GENESIS) == []


# --- in the stores --------------------------------------------------------------------------


def _tamper(store: FleetStore, *statements: str) -> None:
    """What someone with write access to the database could do."""
    assert isinstance(store, SqlStore)
    with store._transaction() as tx:
        for statement in statements:
            tx.run(statement)


def _append(store: FleetStore, n: int) -> list[AuditLine]:
    return [store.append_audit(_entry(i, f"KIOSK-SIM-000{i % 2}")) for i in range(1, n + 1)]


def test_the_store_appends_a_chain(fleet_store: FleetStore) -> None:
    assert fleet_store.audit_head() == GENESIS
    appended = _append(fleet_store, 5)
    assert appended == _chain_of([line.entry for line in appended])
    assert fleet_store.audit_lines() == appended
    assert fleet_store.audit_head() == appended[-1].hash
    assert [line.seq for line in fleet_store.audit_lines("KIOSK-SIM-0000")] == [2, 4]
    assert verify_chain(fleet_store.audit_lines()) == []


def _chain_of(entries: list[AuditEntry]) -> list[AuditLine]:
    lines: list[AuditLine] = []
    for entry in entries:
        lines.append(next_line(lines[-1] if lines else None, entry))
    return lines


def test_an_edited_row_is_detected(fleet_store: FleetStore) -> None:
    _append(fleet_store, 4)
    _tamper(fleet_store, "UPDATE audit SET outcome = 'refused' WHERE seq = 2")
    assert verify_chain(fleet_store.audit_lines()) == [
        "seq 2: hash does not match the line (edited)"
    ]


def test_a_deleted_row_is_detected(fleet_store: FleetStore) -> None:
    _append(fleet_store, 4)
    _tamper(fleet_store, "DELETE FROM audit WHERE seq = 3")
    problems = verify_chain(fleet_store.audit_lines())
    assert problems[0] == "seq 4: seq 3 missing (removed lines)"


def test_swapped_rows_are_detected(fleet_store: FleetStore) -> None:
    _append(fleet_store, 4)
    _tamper(
        fleet_store,
        "UPDATE audit SET seq = -2 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = -2",
    )
    problems = verify_chain(fleet_store.audit_lines())
    assert "seq 2: hash does not match the line (edited)" in problems
    assert "seq 3: hash does not match the line (edited)" in problems


def test_a_deleted_tail_is_detected_with_the_noted_head(fleet_store: FleetStore) -> None:
    _append(fleet_store, 4)
    noted = fleet_store.audit_head()
    _tamper(fleet_store, "DELETE FROM audit WHERE seq = 4")
    assert verify_chain(fleet_store.audit_lines()) == []  # a valid, shorter chain
    [problem] = verify_chain(fleet_store.audit_lines(), expected_head=noted)
    assert "removed from the end" in problem


# --- concurrent appenders -------------------------------------------------------------------

APPENDS = 40


def _race(open_store: Callable[[], FleetStore]) -> list[AuditLine]:
    """Two appenders, each with its own connection, appending at once."""
    stores = [open_store(), open_store()]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def appender(store: FleetStore, name: str) -> None:
        try:
            barrier.wait(10)
            for i in range(APPENDS):
                store.append_audit(dataclasses.replace(_entry(i), admin=name))
        except BaseException as err:  # reported by the test
            errors.append(err)

    threads = [
        threading.Thread(target=appender, args=(store, f"admin-{n}"))
        for n, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    lines = stores[0].audit_lines()
    for store in stores:
        store.close()
    assert errors == []
    return lines


def _check_race(lines: list[AuditLine]) -> None:
    assert [line.seq for line in lines] == list(range(1, 2 * APPENDS + 1))
    assert verify_chain(lines) == []
    assert {line.entry.admin for line in lines} == {"admin-0", "admin-1"}


def test_concurrent_appenders_never_fork_the_chain_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sqlite3"
    SqliteStore(path).close()
    _check_race(_race(lambda: SqliteStore(path)))


def test_concurrent_appenders_never_fork_the_chain_postgresql(postgres_dsn: str) -> None:
    from fleet.store.postgres import PostgresStore

    PostgresStore(postgres_dsn).close()
    _check_race(_race(lambda: PostgresStore(postgres_dsn)))


def test_threads_sharing_one_store_append_in_turn(fleet_store: FleetStore) -> None:
    lines = _race(lambda: fleet_store)
    _check_race(lines)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_appending_processes_never_fork_the_chain(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    where = (
        str(tmp_path / "fleet.sqlite3")
        if backend == "sqlite"
        else str(request.getfixturevalue("postgres_dsn"))
    )
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(2)
    procs = [
        spawn.Process(target=append_entries, args=(where, f"admin-{n}", APPENDS, start))
        for n in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0]
    if backend == "sqlite":
        store: FleetStore = SqliteStore(Path(where))
    else:
        from fleet.store.postgres import PostgresStore

        store = PostgresStore(where)
    lines = store.audit_lines()
    store.close()
    _check_race(lines)


def test_processes_creating_one_sqlite_file_at_once(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    for n in range(6):
        path, start = str(tmp_path / f"fleet-{n}.sqlite3"), spawn.Barrier(3)
        procs = [spawn.Process(target=open_at_once, args=(path, start)) for _ in range(3)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert [proc.exitcode for proc in procs] == [0, 0, 0]
