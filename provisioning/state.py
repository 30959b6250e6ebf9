"""The provisioning run's state file: the steps finished and their non-personal results.

`provision-KIND.json` (install, decommission) in the agent's state folder ([state] dir):
written atomically (a new file, fsync, rename, fsync of the folder) after every step, so a
power cut between two steps leaves either the old or the new file, never half of one;
`kiosk-provision` run again skips the steps recorded and continues with the first one missing.
Results hold hardware ids, fingerprints, hashes and test outcomes: no personal data, no secret.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioning.errors import StateError

FILE_PREFIX = "provision-"  # provision-install.json, provision-decommission.json
VERSION = 1


@dataclass
class RunState:
    """What the state file holds: the run's kind and, by step name, when it finished and what it
    found."""

    path: Path
    kind: str = "install"
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def done(self, step: str) -> bool:
        """True if the step finished in an earlier or this run."""
        return step in self.steps

    def result(self, step: str) -> dict[str, Any]:
        """A finished step's result ({} if it did not finish)."""
        return dict(self.steps.get(step, {}).get("result", {}))

    def finish(self, step: str, at: int, result: dict[str, Any]) -> None:
        """Record a finished step and write the file."""
        self.steps[step] = {"at": at, "result": result}
        self.save()

    def forget(self, step: str) -> None:
        """Drop a step (to run it again) and write the file."""
        if self.steps.pop(step, None) is not None:
            self.save()

    def as_json(self) -> dict[str, Any]:
        """The file's content."""
        return {"v": VERSION, "kind": self.kind, "steps": self.steps}

    def save(self) -> None:
        """Write atomically with fsync (StateError naming the file)."""
        write_atomic(self.path, json.dumps(self.as_json(), indent=1) + "\n")

    def remove(self) -> None:
        """Delete the file (a run that finished everything, or a decommission)."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as err:
            raise _state_error(self.path, err) from err


def load(folder: Path, kind: str) -> RunState:
    """The state of an unfinished run of `kind` in `folder`, or a fresh one (StateError)."""
    path = folder / f"{FILE_PREFIX}{kind}.json"
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return RunState(path, kind)
    except (OSError, UnicodeDecodeError) as err:
        raise StateError(
            "STATE_UNREADABLE",
            f"Berkas status {path} tidak dapat dibaca: hapus berkas itu dan ulangi dari awal.",
            f"The state file {path} cannot be read: delete it and start again.",
        ) from err
    try:
        doc = json.loads(raw)
        if doc["v"] != VERSION or not isinstance(doc["steps"], dict):
            raise ValueError("version")
        steps = {str(k): dict(v) for k, v in doc["steps"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise StateError(
            "STATE_DAMAGED",
            f"Berkas status {path} rusak: hapus berkas itu dan ulangi dari awal.",
            f"The state file {path} is damaged: delete it and start again.",
        ) from err
    return RunState(path, kind, steps)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text`: new file, fsync, rename, fsync of the folder (StateError)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _state_error(path, err) from err


def _state_error(path: Path, err: OSError) -> StateError:
    return StateError(
        "STATE_WRITE",
        f"Berkas status {path} tidak dapat ditulis ({err.strerror}): periksa ruang disk dan"
        " izin folder status agen.",
        f"The state file {path} cannot be written ({err.strerror}): check the disk space and"
        " the permissions of the agent's state folder.",
    )
