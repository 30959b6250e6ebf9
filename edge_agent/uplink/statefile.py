"""The kiosk's remote-control state on disk: written atomically and fsynced before it is acted on.

`atomic_write` writes a temporary file in the same folder, fsyncs it, renames it over the old
one and fsyncs the folder: after a crash at any point the file is either the old state or the
new one. A file that cannot be read back (storage damage, tampering) fails closed: the kiosk is
deactivated and only documents issued after that moment are accepted (`not_before`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.signed import MAX_VERSION, Sanction

_log = logging.getLogger(__name__)
SECURITY = logging.getLogger("edge_agent.security")

SCHEMA_VERSION = 1
MAX_NONCES = 4096


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
        }


class StateFileError(Exception):
    """The state file exists but cannot be read back."""


def parse_state(data: bytes) -> RemoteState:
    """The state from the file's bytes; StateFileError if anything is off."""
    try:
        obj = json.loads(data.decode("utf-8"))
        if not isinstance(obj, dict) or obj.get("v") != SCHEMA_VERSION:
            raise StateFileError("unknown schema")

        def integer(key: str, hi: int = MAX_VERSION) -> int:
            value = obj[key]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= hi:
                raise StateFileError(f"bad {key}")
            return value

        def text(key: str) -> str:
            value = obj[key]
            if not isinstance(value, str) or len(value) > 256:
                raise StateFileError(f"bad {key}")
            return value

        def flag(key: str) -> bool:
            value = obj[key]
            if not isinstance(value, bool):
                raise StateFileError(f"bad {key}")
            return value

        nonces = obj["nonces"]
        if not isinstance(nonces, dict) or len(nonces) > MAX_NONCES:
            raise StateFileError("bad nonces")
        for nonce, expiry in nonces.items():
            if not isinstance(expiry, int) or isinstance(expiry, bool) or len(nonce) != 32:
                raise StateFileError("bad nonces")
        sanctions = obj["sanctions"]
        if not isinstance(sanctions, list):
            raise StateFileError("bad sanctions")
        return RemoteState(
            version=integer("version"),
            digest=text("digest"),
            deactivated=flag("deactivated"),
            reason=text("reason"),
            sanctions=tuple(Sanction(s) for s in sanctions),
            issued_at=integer("issued_at"),
            applied_at=integer("applied_at"),
            not_before=integer("not_before"),
            tampered=flag("tampered"),
            tamper_cause=text("tamper_cause"),
            tampered_at=integer("tampered_at"),
            nonces=dict(nonces),
        )
    except StateFileError:
        raise
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise StateFileError(type(err).__name__) from None


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new file, fsynced."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """fsync a folder (a rename or unlink in it is durable after this)."""
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class StateFile:
    """remote-state.json in the agent's state folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, wall: float) -> RemoteState:
        """The saved state; a fresh one if none; fail closed if it cannot be read back."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()  # a write that crashed before its rename: never applied
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return RemoteState()
        try:
            return parse_state(data)
        except StateFileError as err:
            now = int(wall)
            SECURITY.warning(
                "security_event kind=state_file_unreadable error=%s action=deactivated", err
            )
            with contextlib.suppress(OSError):
                self.path.replace(self.path.with_name(f"{self.path.name}.unreadable-{now}"))
            state = RemoteState(
                deactivated=True, reason="state_unreadable", applied_at=now, not_before=now
            )
            self.save(state)
            return state

    def save(self, state: RemoteState) -> None:
        """Write atomically and fsync (call before acting on the state)."""
        atomic_write(self.path, json.dumps(state.to_json(), sort_keys=True).encode() + b"\n")
