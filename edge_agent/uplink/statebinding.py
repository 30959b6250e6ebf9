"""The remote state bound to the device: a keyed MAC over remote-state.json, and an anchor.

The key is kept apart from the state file (`[state] key_file`, by default beside the state
folder, not in it); the identity issue moves it into the device's PKCS#11 token, behind the same
`StateKey` seam (`mac(data)`). The anchor, kept with the key, holds the last version applied, so a
state file rolled back to an older (validly MACed) copy is found out.

A state file that is missing (once the kiosk has a key), edited, corrupt or rolled back makes
the kiosk start deactivated until a signed desired state at least as new as the anchor arrives
(the broker's retained document does, on the next connection).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Protocol

from edge_agent.uplink.statefile import atomic_write

_log = logging.getLogger(__name__)

KEY_BYTES = 32


class StateKey(Protocol):
    """What binds the state to the device: a keyed MAC (later: a key in the token)."""

    def mac(self, data: bytes) -> str:
        """The MAC of `data`, as hex text."""


class StateKeyError(Exception):
    """The state key file exists but cannot be used; the message names it and what to do."""


class FileStateKey:
    """An HMAC-SHA256 key in a file of its own (0600), made at the kiosk's first start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.created = False
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            self._key = self._create()
            self.created = True
            return
        except OSError as err:
            raise StateKeyError(
                f"{path}: cannot be read ({err.strerror}); check the file's owner and mode, "
                "or re-provision the kiosk"
            ) from err
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES:
            raise StateKeyError(
                f"{path}: not a state key ({KEY_BYTES} bytes in hex); restore it from the "
                "provisioning backup or re-provision the kiosk (it will start deactivated)"
            )
        self._key = key

    def _create(self) -> bytes:
        key = secrets.token_bytes(KEY_BYTES)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, key.hex().encode() + b"\n")
        os.chmod(self.path, 0o600)
        _log.warning("state key made at %s (first start of this kiosk)", self.path)
        return key

    def mac(self, data: bytes) -> str:
        """HMAC-SHA256 of `data`, hex."""
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()


class Anchor:
    """The last version applied, MACed, kept with the key (apart from the state file)."""

    def __init__(self, path: Path, key: StateKey) -> None:
        self.path = path
        self._key = key

    def version(self) -> int | None:
        """The anchored version; None if there is none or it does not verify."""
        try:
            obj = json.loads(self.path.read_bytes())
            version, mac = obj["version"], obj["mac"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(version, int) or not isinstance(mac, str):
            return None
        if not hmac.compare_digest(mac, self._key.mac(_anchor_bytes(version))):
            return None
        return version

    def record(self, version: int) -> None:
        """Anchor `version` (after the state file holding it is on disk)."""
        body = {"version": version, "mac": self._key.mac(_anchor_bytes(version))}
        atomic_write(self.path, json.dumps(body, sort_keys=True).encode() + b"\n")


def _anchor_bytes(version: int) -> bytes:
    return f"remote-state-anchor:{version}".encode()
