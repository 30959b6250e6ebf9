"""Fail closed when the state folder cannot be written: the state file's side (an injected
failing StateFile stands in for the file system; tests/integration/test_state_folder.py fills
and write-protects a real tmpfs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_agent.errors import StorageFailure
from edge_agent.uplink.remote_control import RemoteControl, VerdictKind
from edge_agent.uplink.statefile import RemoteState, StateFile
from edge_agent.uplink.storage import StorageWatch
from protocol.signed import KioskState
from tests.clock import FakeClock
from tests.remote.keys import KEYS
from tests.remote.test_control import DEVICE, Wall, desired


class FailingStateFile(StateFile):
    """remote-state.json on a folder that fails writes while `broken` (ENOSPC)."""

    broken = False

    def save(self, state: RemoteState) -> None:
        if self.broken:
            raise OSError(28, "No space left on device")
        super().save(state)


def _parts(folder: Path) -> tuple[RemoteControl, FailingStateFile, StorageWatch, list[bool]]:
    file = FailingStateFile(folder / "remote-state.json")
    control = RemoteControl(DEVICE, KEYS, file, wall=Wall())

    def probe() -> None:
        if file.broken:
            raise OSError(28, "No space left on device")

    storage = StorageWatch(folder, FakeClock(), probe)
    control.storage = storage
    seen: list[bool] = []
    storage.listen(seen.append)
    return control, file, storage, seen


def test_a_deactivation_applies_in_memory_and_is_saved_when_the_folder_recovers(
    tmp_path: Path,
) -> None:
    control, file, storage, seen = _parts(tmp_path)
    file.broken = True
    verdict = control.desired(desired(1))
    assert verdict.kind is VerdictKind.APPLIED
    assert control.state.deactivated  # in force at once
    assert not file.path.exists()
    assert seen == [False] and not storage.ok
    assert not storage.try_now()  # still full
    file.broken = False
    assert storage.try_now()
    assert seen == [False, True]
    assert json.loads(file.path.read_bytes())["deactivated"] is True


def test_a_reactivation_that_cannot_be_saved_is_not_applied(tmp_path: Path) -> None:
    control, file, storage, _ = _parts(tmp_path)
    control.desired(desired(1))
    file.broken = True
    with pytest.raises(StorageFailure) as failure:
        control.desired(desired(2, KioskState.ACTIVE))
    assert failure.value.path == file.path
    assert control.state.deactivated and control.state.version == 1
    assert not storage.ok
