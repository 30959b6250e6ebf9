"""A real PostgreSQL server for tests and benches, from Debian's packages, on loopback.

`PostgresServer` (no pytest in it, so bench/ can use it too) runs initdb and postgres from
/usr/lib/postgresql/<newest>/bin in a private folder: listening on 127.0.0.1 on a free port and
on a unix socket in that folder, trust authentication for loopback only, fsync off. PostgreSQL
refuses to run as root, so as root it runs as the `postgres` system user (or `nobody`).

Fixtures: `postgres_server` (one per session; skipped with the reason when the binaries are
missing) and `postgres_dsn` (a fresh database per test, made from template0, dropped after).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
READY = "database system is ready to accept connections"
START_TIMEOUT_S = 30.0
HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


class PostgresMissing(Exception):
    """No PostgreSQL server binaries here."""


def postgres_bindir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and postgres."""
    versions = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists() and (p / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise PostgresMissing(
            f"no PostgreSQL server in {PG_ROOT}/<version>/bin: run"
            " scripts/install-debian-packages.sh (package postgresql)"
        )
    return versions[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> pwd.struct_passwd | None:
    """Whom to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresMissing("running as root and there is no postgres or nobody user to run as")


class PostgresServer:
    """A throwaway PostgreSQL server; `start()`, `dsn(db)`, `create_database()`, `stop()`."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or postgres_bindir()
        self.user = _server_user()
        self.port = _free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="kiosk-pg-"))
        self.data = self.workdir / "data"
        self.sockets = self.workdir / "run"
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    def _as_user(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def start(self) -> None:
        """initdb, then postgres; returns once it accepts connections."""
        self.sockets.mkdir()
        if self.user is not None:
            for path in (self.workdir, self.sockets):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.workdir)}
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres"]
        initdb += ["-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]
        done = subprocess.run(
            initdb, env=env, cwd=self.workdir, capture_output=True, text=True, **self._as_user()
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
        (self.data / "pg_hba.conf").write_text(HBA)
        args = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        args += ["-k", str(self.sockets)]
        for key, value in SETTINGS.items():
            args += ["-c", f"{key}={value}"]
        proc = self.proc = subprocess.Popen(
            args,
            env=env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **self._as_user(),
        )
        ready = threading.Event()

        def drain() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.log.append(line.rstrip())
                if READY in line:
                    ready.set()
            ready.set()  # it exited

        threading.Thread(target=drain, daemon=True, name="postgres-log").start()
        if not ready.wait(START_TIMEOUT_S) or proc.poll() is not None:
            self.stop()
            raise RuntimeError("postgres did not start: " + " | ".join(self.log[-5:]))

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URI to a database of this server over loopback TCP."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (from template0); its DSN."""
        import psycopg
        from psycopg import sql

        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        return self.dsn(name)

    def drop_database(self, dsn: str) -> None:
        """Drop a database made by create_database (its sessions ended)."""
        import psycopg
        from psycopg import sql

        name = dsn.rsplit("/", 1)[1]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self) -> None:
        """Fast shutdown (SIGINT), and the folder removed."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (skipped, with the reason, without the binaries)."""
    try:
        server = PostgresServer()
    except PostgresMissing as err:
        pytest.skip(str(err))
    try:
        server.start()
    except RuntimeError as err:
        pytest.fail(str(err))
    yield server
    server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A DSN to a fresh, empty database of the test server, dropped after the test."""
    dsn = postgres_server.create_database()
    yield dsn
    postgres_server.drop_database(dsn)
