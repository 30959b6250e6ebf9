"""A real mosquitto for tests and the simulation: TLS, client certificates, the fleet's ACL.

Two TLS 1.3 listeners on loopback, each with its own CA and ACL, configured by
`kiosk_sim.mosquitto_config` (the same configuration as `deploy/mosquitto/`, other paths):

- the device listener (`.port`): trusts only the device CA (and its CRL); the certificate's CN
  is the username and the client id (no device can take over another's session); the ACL lets a
  kiosk write `state`, `health`, `usage`, `reported`, `cmd/<id>/ack` of its own tree and read
  its `desired`, `cmd/<id>` and `state`, nothing else.
- the admin listener (`.admin_port`): trusts only the admin CA; an admin may read every kiosk
  topic, write `desired` and `cmd/<id>`, and use `fleet/v1/<its name>/#` for itself.

A device certificate whose CN looks like an admin's gains nothing: it cannot reach the admin
listener. Persistence (retained messages, persistent sessions) lives in the run directory and
survives `restart()` (a clean stop saves it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from kiosk_sim.mosquitto_config import (
    ADMIN_ACL,
    KIOSK_ACL,
    Listener,
    admin_acl,
    kiosk_acl,
    render_config,
)
from kiosk_sim.pki import Issued, Pki

_log = logging.getLogger(__name__)

READY_TIMEOUT = 10.0
ADMIN_CN = "fleet-admin"
SERVICE_CN = "fleet-service"
READER_CN = "fleet-viewer"  # a read-only admin


class BrokerError(Exception):
    """mosquitto could not be started."""


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    """Where and how a client reaches one listener."""

    host: str
    port: int
    ca_file: Path  # the server CA, to check the broker's certificate


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class MosquittoBroker:
    """mosquitto in `run_dir`: start()/stop()/restart(), or use it as a context manager."""

    def __init__(
        self,
        run_dir: Path,
        pki: Pki,
        *,
        admins: tuple[str, ...] = (ADMIN_CN,),
        services: tuple[str, ...] = (SERVICE_CN,),
        readers: tuple[str, ...] = (READER_CN,),
        host: str = "127.0.0.1",
        port: int | None = None,
        admin_port: int | None = None,
        autosave_interval: int = 60,
        log_debug: bool = False,
        executable: str | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.pki = pki
        self.admins = admins
        self.services = services
        self.readers = readers
        self.host = host
        self.port = port or free_port(host)
        self.admin_port = admin_port or free_port(host)
        self._autosave = autosave_interval
        self._log_debug = log_debug
        self._exe = executable or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self._proc: subprocess.Popen[str] | None = None
        self._server: Issued | None = None
        self.run_dir.mkdir(parents=True, exist_ok=True)

    # --- files ----------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        """mosquitto.conf."""
        return self.run_dir / "mosquitto.conf"

    @property
    def persistence_path(self) -> Path:
        """The persistence database (retained messages, sessions, queued messages)."""
        return self.run_dir / "mosquitto.db"

    @property
    def log_path(self) -> Path:
        """mosquitto's log file."""
        return self.run_dir / "mosquitto.log"

    @property
    def device_endpoint(self) -> BrokerEndpoint:
        """The device listener."""
        return BrokerEndpoint(self.host, self.port, self.pki.server_ca.cert)

    @property
    def admin_endpoint(self) -> BrokerEndpoint:
        """The admin listener."""
        return BrokerEndpoint(self.host, self.admin_port, self.pki.server_ca.cert)

    def issue_admin(self, name: str = ADMIN_CN) -> Issued:
        """An admin certificate the admin listener accepts (the name must be in `admins`)."""
        if name not in self.admins and name not in self.readers:
            raise ValueError(f"{name} is not an admin of this broker")
        return self.pki.issue_admin(name)

    def issue_service(self, name: str = SERVICE_CN) -> Issued:
        """A fleet-service certificate (admin CA) the service ACL names."""
        if name not in self.services:
            raise ValueError(f"{name} is not a fleet service of this broker")
        return self.pki.issue_admin(name)

    def write_config(self) -> Path:
        """Write mosquitto.conf, the two ACL files and the server certificate."""
        if self._server is None:
            self._server = self.pki.issue_server("mqtt-broker", (self.host, "localhost"))
        (self.run_dir / KIOSK_ACL).write_text(kiosk_acl())
        (self.run_dir / ADMIN_ACL).write_text(admin_acl(self.admins, self.readers, self.services))
        extra = [
            f"persistence_location {self.run_dir}/",
            f"persistence_file {self.persistence_path.name}",
            f"log_dest file {self.log_path}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            *(["log_type debug"] if self._log_debug else []),
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if os.geteuid() == 0:
            extra.append("user root")  # mosquitto would drop to a user that cannot read run_dir
        server = self._server
        kiosks = Listener(
            self.port,
            server.cert,
            server.key,
            self.pki.device_ca.cert,
            self.run_dir / KIOSK_ACL,
            crlfile=self.pki.device_crl,
            bind=self.host,
        )
        admins = Listener(
            self.admin_port,
            server.cert,
            server.key,
            self.pki.admin_ca.cert,
            self.run_dir / ADMIN_ACL,
            bind=self.host,
        )
        text = render_config(
            kiosks,
            admins,
            header=["# written by kiosk_sim/broker.py"],
            autosave_interval=self._autosave,
            extra=extra,
        )
        self.config_path.write_text(text)
        return self.config_path

    # --- lifetime -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the mosquitto process runs."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self) -> None:
        """Start mosquitto; return once it logs that it runs (its listeners are open by then)."""
        if self.running:
            return
        self.write_config()
        proc = subprocess.Popen(
            [self._exe, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._proc = proc
        ready = threading.Event()
        lines: list[str] = []

        def drain() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                if len(lines) < 200:
                    lines.append(line.rstrip())
                if " running" in line and "mosquitto version" in line:
                    ready.set()
            ready.set()  # the process ended: stop waiting

        threading.Thread(target=drain, name="mosquitto-stderr", daemon=True).start()
        if not ready.wait(READY_TIMEOUT) or proc.poll() is not None:
            self._kill()
            raise BrokerError("mosquitto did not start: " + " | ".join(lines[-5:]))
        _log.info("mosquitto on %s:%d (kiosks), %d (admins)", self.host, self.port, self.admin_port)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop cleanly (SIGTERM: persistence is saved); SIGKILL if it does not end."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                proc.stderr.close()

    def kill(self) -> None:
        """Kill without saving (a crash)."""
        self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def restart(self) -> None:
        """stop() then start() on the same ports with the same persistence."""
        self.stop()
        self.start()

    def reload(self) -> None:
        """SIGHUP: read the ACL files (and the CRL) again."""
        if self._proc is not None and self.running:
            self.write_config()
            self._proc.send_signal(signal.SIGHUP)

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
