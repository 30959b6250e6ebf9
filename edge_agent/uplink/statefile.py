"""The kiosk's remote-control state on disk: written atomically and fsynced before it is acted on.

`atomic_write` writes a temporary file in the same folder, fsyncs it, renames it over the old
one and fsyncs the folder: after a crash at any point the file is either the old state or the
new one. A file that cannot be read back (storage damage, tampering) fails closed: the kiosk is
deactivated and only documents issued after that moment are accepted (`not_before`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol.signed import MAX_VERSION, Sanction
from protocol.strict import Reader
from protocol.strictjson import strict_loads

if TYPE_CHECKING:
    from edge_agent.uplink.statebinding import Anchor, StateKey

_log = logging.getLogger(__name__)
SECURITY = logging.getLogger("edge_agent.security")

SCHEMA_VERSION = 1
MAX_NONCES = 4096
_NONCE = re.compile(r"^[0-9a-f]{32}\Z")
_TEXT = re.compile(r"^.{0,256}\Z", re.DOTALL)
_SANCTION = re.compile("^(" + "|".join(s.value for s in Sanction) + r")\Z")


@dataclass(frozen=True, slots=True)
class RemoteState:
    """What the admins decided (last applied desired state), used nonces, and the tamper latch."""

    version: int = 0
    digest: str = ""  # SHA-256 of the applied desired state's body
    deactivated: bool = False
    reason: str = ""
    sanctions: tuple[Sanction, ...] = ()
    issued_at: int = 0
    applied_at: int = 0
    not_before: int = 0  # only documents issued at or after this are accepted
    tampered: bool = False
    tamper_cause: str = ""
    tampered_at: int = 0
    nonces: dict[str, int] = field(default_factory=dict)  # command nonce -> its expiry
    # the file did not verify: deactivated until a signed desired state of at least `version`
    resync: bool = False

    @property
    def refuses_sessions(self) -> bool:
        """True if the kiosk must refuse sessions (deactivated or tampered)."""
        return self.deactivated or self.tampered

    def replace(self, **changes: Any) -> RemoteState:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object."""
        return {
            "v": SCHEMA_VERSION,
            "version": self.version,
            "digest": self.digest,
            "deactivated": self.deactivated,
            "reason": self.reason,
            "sanctions": sorted(s.value for s in self.sanctions),
            "issued_at": self.issued_at,
            "applied_at": self.applied_at,
            "not_before": self.not_before,
            "tampered": self.tampered,
            "tamper_cause": self.tamper_cause,
            "tampered_at": self.tampered_at,
            "nonces": dict(sorted(self.nonces.items())),
            "resync": self.resync,
        }


class StateFileError(Exception):
    """The state file exists but cannot be read back."""


def _state_error(path: str, reason: str) -> StateFileError:
    """The strict reader's error for the state file."""
    return StateFileError(f"{path}: {reason}")


def parse_state(data: bytes) -> RemoteState:
    """The state from the file's bytes; StateFileError if anything is off."""
    try:
        obj = strict_loads(data)
    except (ValueError, RecursionError):
        raise StateFileError("not strict JSON") from None
    r = Reader(obj, error=_state_error)
    if r.integer("v", lo=1, hi=1000) != SCHEMA_VERSION:
        raise StateFileError("unknown schema")
    nonces = r.nested("nonces")
    used = nonces.names()
    if len(used) > MAX_NONCES or not all(_NONCE.match(n) for n in used):
        raise StateFileError("nonces: too many or not nonces")
    state = RemoteState(
        version=r.integer("version", hi=MAX_VERSION),
        digest=r.text("digest", pattern=_TEXT, empty=True),
        deactivated=r.boolean("deactivated"),
        reason=r.text("reason", pattern=_TEXT, empty=True),
        sanctions=tuple(Sanction(s) for s in r.texts("sanctions", pattern=_SANCTION)),
        issued_at=r.integer("issued_at", hi=MAX_VERSION),
        applied_at=r.integer("applied_at", hi=MAX_VERSION),
        not_before=r.integer("not_before", hi=MAX_VERSION),
        tampered=r.boolean("tampered"),
        tamper_cause=r.text("tamper_cause", pattern=_TEXT, empty=True),
        tampered_at=r.integer("tampered_at", hi=MAX_VERSION),
        nonces={n: nonces.integer(n) for n in used},
        resync=r.boolean("resync", False),
    )
    r.done()
    return state


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new file, fsynced."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()  # a full disk keeps no half-written copy
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """fsync a folder (a rename or unlink in it is durable after this)."""
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class StateFile:
    """remote-state.json in the agent's state folder, bound to the device by `key` (a MAC in
    the file) and `anchor` (the last version, kept apart). Without a key (tests of the state
    logic alone) the file is plain JSON."""

    def __init__(
        self, path: Path, key: StateKey | None = None, anchor: Anchor | None = None
    ) -> None:
        self.path = path
        self._key = key
        self._anchor = anchor
        self.first_start = False  # set by the wiring: the key was made just now

    def load(self, wall: float) -> RemoteState:
        """The saved state; a fresh one if none; fail closed if it cannot be read back."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()  # a write that crashed before its rename: never applied
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            if self._key is None:
                return RemoteState()
            if self.first_start:  # from now on the file is always there
                self.save(RemoteState())
                return RemoteState()
            return self._resync(wall, "state_missing", "missing")
        try:
            state, mac = self._parse(data)
        except StateFileError as err:
            now = int(wall)
            with contextlib.suppress(OSError):
                self.path.replace(self.path.with_name(f"{self.path.name}.unreadable-{now}"))
            return self._resync(wall, "state_unreadable", f"unreadable ({err})")
        if self._key is None:
            return state
        if mac is None or not hmac.compare_digest(mac, self._key.mac(_canonical(state))):
            return self._resync(wall, "state_unverified", "edited or not this kiosk's")
        anchored = self._anchor.version() if self._anchor is not None else None
        if anchored is not None and state.version < anchored:
            return self._resync(wall, "state_rolled_back", f"older than version {anchored}")
        return state

    def _parse(self, data: bytes) -> tuple[RemoteState, str | None]:
        try:
            obj = strict_loads(data)
        except (ValueError, RecursionError):
            raise StateFileError("not strict JSON") from None
        mac = obj.pop("mac", None) if isinstance(obj, dict) else None
        if mac is not None and not isinstance(mac, str):
            raise StateFileError("mac: not text")
        return parse_state(json.dumps(obj, sort_keys=True).encode()), mac

    def _resync(self, wall: float, reason: str, what: str) -> RemoteState:
        """Fail closed: deactivated until a signed desired state at least as new as the anchor."""
        now = int(wall)
        anchored = self._anchor.version() if self._anchor is not None else None
        SECURITY.warning(
            "security_event kind=state_file_rejected file=%s cause=%s action=deactivated until "
            "a signed desired state of version %d or later arrives (the broker's retained one "
            "does on connection; if the kiosk stays deactivated, check its broker connection)",
            self.path,
            what,
            anchored or 0,
        )
        state = RemoteState(
            version=anchored or 0,
            deactivated=True,
            reason=reason,
            applied_at=now,
            not_before=now,
            resync=True,
        )
        self.save(state)
        return state

    def save(self, state: RemoteState) -> None:
        """Write atomically and fsync (call before acting on the state); then the anchor."""
        body = state.to_json()
        if self._key is not None:
            body["mac"] = self._key.mac(_canonical(state))
        atomic_write(self.path, json.dumps(body, sort_keys=True).encode() + b"\n")
        if self._anchor is not None and not state.resync:
            self._anchor.record(state.version)


def _canonical(state: RemoteState) -> bytes:
    return json.dumps(state.to_json(), sort_keys=True).encode()
