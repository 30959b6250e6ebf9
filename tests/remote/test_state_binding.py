"""The remote state bound to the device: a keyed MAC and an anchor kept apart from the file.

A state file deleted, rolled back, edited or corrupt never leaves a deactivated kiosk active:
it starts deactivated until a signed desired state at least as new as the anchored version
arrives (the retained one does), and a retained document is applied again when the local state
disagrees with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_agent.uplink.remote_control import RemoteControl, VerdictKind
from edge_agent.uplink.statebinding import Anchor, FileStateKey, StateKeyError
from edge_agent.uplink.statefile import StateFile
from protocol.signed import KioskState, Rejection
from tests.remote.keys import KEYS
from tests.remote.test_control import DEVICE, T0, Wall, desired


def start(tmp_path: Path) -> RemoteControl:
    """The kiosk (re)starting: key and anchor in keys/, the state in state/."""
    key = FileStateKey(tmp_path / "keys" / "state.key")
    file = StateFile(
        tmp_path / "state" / "remote-state.json", key, Anchor(tmp_path / "keys" / "anchor", key)
    )
    file.first_start = key.created
    return RemoteControl(DEVICE, KEYS, file, wall=Wall(T0 + 100))


@pytest.fixture
def deactivated(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    """A kiosk that applied v3 (active) then v4 (deactivated), v4 retained at the broker; and
    a copy of its state file at v3 (what someone with the SD card kept)."""
    c = start(tmp_path)
    assert not c.state.deactivated  # first start: active
    c.desired(desired(3, KioskState.ACTIVE))
    path = tmp_path / "state" / "remote-state.json"
    old_copy = path.read_bytes()
    retained = desired(4)
    assert c.desired(retained).kind is VerdictKind.APPLIED
    return path, retained, old_copy


def test_a_verified_state_survives_a_restart(
    tmp_path: Path, deactivated: tuple[Path, bytes, bytes]
) -> None:
    c = start(tmp_path)
    assert c.state.deactivated and c.state.version == 4 and not c.state.resync
    assert "mac" in json.loads(deactivated[0].read_bytes())


@pytest.mark.parametrize("damage", ["deleted", "edited", "corrupt", "rolled_back", "foreign"])
def test_a_damaged_state_file_starts_deactivated_until_the_retained_document(
    tmp_path: Path, deactivated: tuple[Path, bytes, bytes], damage: str
) -> None:
    path, retained, old_copy = deactivated
    if damage == "deleted":
        path.unlink()
    elif damage == "edited":
        obj = json.loads(path.read_bytes())
        obj["deactivated"] = False
        path.write_text(json.dumps(obj))
    elif damage == "corrupt":
        path.write_bytes(b"\x00\x01 not json")
    elif damage == "rolled_back":
        path.write_bytes(old_copy)  # validly MACed, but older than the anchor
    else:  # a state file from another kiosk (another key)
        other = start(tmp_path / "other")
        other.desired(desired(9, KioskState.ACTIVE))
        path.write_bytes((tmp_path / "other" / "state" / "remote-state.json").read_bytes())
    c = start(tmp_path)
    assert c.state.deactivated and c.state.resync
    assert c.reported().deactivated
    assert c.desired(desired(3, KioskState.ACTIVE)).rejection is Rejection.STALE_VERSION
    verdict = c.desired(retained)  # the broker's retained document, as on connection
    assert verdict.kind is VerdictKind.APPLIED
    assert c.state.deactivated and c.state.version == 4 and not c.state.resync
    assert start(tmp_path).state.deactivated


def test_a_retained_document_is_applied_again_when_the_state_disagrees(
    tmp_path: Path, deactivated: tuple[Path, bytes, bytes]
) -> None:
    _, retained, _ = deactivated
    c = start(tmp_path)
    object.__setattr__(c, "_state", c.state.replace(deactivated=False))  # a bug, not a file
    assert c.desired(retained).kind is VerdictKind.APPLIED
    assert c.state.deactivated


def test_a_broken_key_file_names_itself_and_what_to_do(tmp_path: Path) -> None:
    key = tmp_path / "state.key"
    key.write_text("not a key\n")
    with pytest.raises(StateKeyError, match=str(key) + ".*re-provision"):
        FileStateKey(key)
