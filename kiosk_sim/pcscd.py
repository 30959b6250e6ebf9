"""A private pcscd with the vpcd virtual reader driver, for tests, the bench and the demo.

The daemon is the real one; only its configuration is private: a reader.conf.d with one vpcd
entry on a free port pair (card slot on `card_port`, SAM slot on `card_port + 1`) and a socket
in `run_dir`. Clients find the socket through PCSCLITE_CSOCK_NAME (see `env`).

pcsc-lite 1.9.9 (Debian 12) puts its socket at the fixed path /run/pcscd/pcscd.comm whatever the
environment says (only newer releases and the client library honour PCSCLITE_CSOCK_NAME). To run
beside the system daemon, pcscd is then started in a private mount namespace (`unshare`) with
`run_dir` bind-mounted over /run, so its socket lands at run_dir/pcscd/pcscd.comm. That needs
root or unprivileged user namespaces.

libpcsclite reads PCSCLITE_CSOCK_NAME once per process: a process talks to one pcscd only.

Only the kiosk's user may reach the daemon: pcscd makes its socket mode 0666 (and its folder
0755), so `run_dir`, the folder above both, is made mode 0700 (0750 with `client_group`) before
pcscd starts. Another user's process then cannot open the socket (SCARD_E_NO_SERVICE). A
deployment gets the same from systemd's socket unit (deploy/pcscd/, docs/kiosk-agent.md).
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

_log = logging.getLogger(__name__)

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
STOCK_PORTS = frozenset({0x8C7B, 0x8C7C})  # /etc/reader.conf.d/vpcd: never used here
FRIENDLY_NAME = "Virtual PCD"
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"
_SETUP_HINT = "install the Debian packages pcscd and vsmartcard-vpcd (run `make setup`)"
_READY = "daemon ready"
_VPCD_LISTENING = "Waiting for virtual ICC on port "

_process_socket: str | None = None  # the socket this process's libpcsclite is bound to


class PcscdError(RuntimeError):
    """pcscd could not be started (not installed, no namespace support, did not come up)."""


def _find_pcscd() -> str:
    found = shutil.which("pcscd") or next(
        (p for p in ("/usr/sbin/pcscd", "/sbin/pcscd") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise PcscdError(f"pcscd is not installed: {_SETUP_HINT}")
    if not VPCD_DRIVER.exists():
        raise PcscdError(f"the vpcd reader driver ({VPCD_DRIVER}) is missing: {_SETUP_HINT}")
    return found


def _honours_socket_env(pcscd: str) -> bool:
    try:
        return b"PCSCLITE_CSOCK_NAME" in Path(pcscd).read_bytes()
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("", port))  # vpcd binds every interface
        except OSError:
            return False
    return True


def free_port_pair() -> int:
    """A port p such that p and p + 1 are free (and not vpcd's stock ports)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 1 > 65535 or {port, port + 1} & STOCK_PORTS:
            continue
        if _port_free(port) and _port_free(port + 1):
            return port
    raise PcscdError("no free TCP port pair for the vpcd reader")


class PcscdProcess:
    """A private pcscd serving two vpcd readers: the card slot and the SAM slot."""

    def __init__(
        self,
        run_dir: Path,
        *,
        ready_timeout: float = 10.0,
        friendly_name: str = FRIENDLY_NAME,
        client_group: int | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.client_group = client_group  # a group whose members may use pcscd too
        self.ready_timeout = ready_timeout
        self.friendly_name = friendly_name
        self.card_port = 0
        self.sam_port = 0
        self._proc: subprocess.Popen[str] | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=200)
        self._cond = threading.Condition()
        self._pump: threading.Thread | None = None
        self._namespaced = False

    # --- what clients need

    @property
    def socket_path(self) -> Path:
        """Where this pcscd's client socket is."""
        if self._namespaced:
            return self.run_dir / "pcscd" / "pcscd.comm"
        return self.run_dir / "pcscd.comm"

    @property
    def reader_names(self) -> tuple[str, str]:
        """PC/SC names of the card reader and the SAM reader."""
        return f"{self.friendly_name} 00 00", f"{self.friendly_name} 00 01"

    @property
    def card_reader(self) -> str:
        """PC/SC name of the card slot."""
        return self.reader_names[0]

    @property
    def sam_reader(self) -> str:
        """PC/SC name of the SAM slot."""
        return self.reader_names[1]

    @property
    def env(self) -> dict[str, str]:
        """Environment entries a client process needs to reach this pcscd."""
        return {SOCKET_ENV: str(self.socket_path)}

    def use_in_this_process(self) -> None:
        """Point this process's libpcsclite at this pcscd (before pyscard's first call)."""
        global _process_socket
        path = str(self.socket_path)
        if _process_socket not in (None, path):
            _log.warning("libpcsclite may still use %s: one pcscd per process", _process_socket)
        os.environ[SOCKET_ENV] = path
        _process_socket = path

    # --- lifecycle

    def start(self) -> PcscdProcess:
        """Start pcscd and wait until both vpcd readers listen."""
        pcscd = _find_pcscd()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._restrict_clients()
        last_error: PcscdError | None = None
        for _ in range(3):
            try:
                self._start_once(pcscd)
                return self
            except PcscdError as err:  # a port taken between the check and the bind, say
                last_error = err
                self.stop()
        assert last_error is not None
        raise last_error

    def _restrict_clients(self) -> None:
        """Only this user (and `client_group`) may pass `run_dir` to reach the socket."""
        if self.client_group is None:
            self.run_dir.chmod(0o700)
        else:
            os.chown(self.run_dir, -1, self.client_group)
            self.run_dir.chmod(0o750)

    def _command(self, pcscd: str, conf_dir: Path) -> list[str]:
        daemon = [pcscd, "--foreground", "--info", "--config", str(conf_dir)]
        if _honours_socket_env(pcscd):
            return daemon
        unshare = shutil.which("unshare")
        if unshare is None:
            raise PcscdError("unshare (util-linux) is needed to run a private pcscd 1.9.x")
        self._namespaced = True
        ns = ["--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            ns = ["--user", "--map-root-user", *ns]
        script = 'mount --bind "$0" /run && exec "$@"'
        return [unshare, *ns, "--", "sh", "-c", script, str(self.run_dir), *daemon]

    def _start_once(self, pcscd: str) -> None:
        self.card_port = free_port_pair()
        self.sam_port = self.card_port + 1
        conf_dir = self.run_dir / "reader.conf.d"
        conf_dir.mkdir(exist_ok=True)
        (conf_dir / "vpcd").write_text(
            f'FRIENDLYNAME "{self.friendly_name}"\n'
            f"DEVICENAME   /dev/null:0x{self.card_port:04X}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    0x{self.card_port:04X}\n"
        )
        env = dict(os.environ)
        env[SOCKET_ENV] = str(self.run_dir / "pcscd.comm")
        self._output.clear()
        self._proc = subprocess.Popen(
            self._command(pcscd, conf_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self._pump = threading.Thread(
            target=self._read_output, args=(self._proc,), name="pcscd-output", daemon=True
        )
        self._pump.start()
        deadline = time.monotonic() + self.ready_timeout
        with self._cond:
            ready = self._cond.wait_for(self._ready_or_dead, self.ready_timeout)
        if not ready or self._proc.poll() is not None:
            raise PcscdError(f"pcscd did not come up: {self._tail()}")
        for port in (self.card_port, self.sam_port):
            if not any(line.endswith(f"{_VPCD_LISTENING}{port}") for line in self._output):
                raise PcscdError(f"vpcd is not listening on port {port}: {self._tail()}")
        if not self._wait_for_socket(deadline):
            raise PcscdError(f"pcscd socket {self.socket_path} did not appear: {self._tail()}")
        _log.info("pcscd ready, vpcd ports %d/%d", self.card_port, self.sam_port)

    def _wait_for_socket(self, deadline: float) -> bool:
        """pcscd creates its socket just after it logs "daemon ready": wait until it accepts."""
        pause = threading.Event()
        while time.monotonic() < deadline and self.running:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                try:
                    probe.connect(str(self.socket_path))
                    return True
                except OSError:
                    pass
            pause.wait(0.002)
        return False

    def _ready_or_dead(self) -> bool:
        proc = self._proc
        return proc is None or proc.poll() is not None or any(_READY in s for s in self._output)

    def _read_output(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # pcscd logs no APDUs at --info
            with self._cond:
                self._output.append(line.rstrip())
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _tail(self) -> str:
        lines = list(self._output)[-8:]
        return " | ".join(lines) if lines else "no output"

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate pcscd; kill it if it does not exit within `timeout`."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._pump is not None:
            self._pump.join(timeout)
        if proc.stdout is not None:
            proc.stdout.close()

    @property
    def running(self) -> bool:
        """True while the daemon process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> PcscdProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"PcscdProcess(ports {self.card_port}/{self.sam_port}, socket {self.socket_path})"
