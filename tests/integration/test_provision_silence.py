"""The demo's technician: a kiosk-provision that goes silent ends the day with a row, its
threads' stacks in its log, instead of hanging or taking the demo down."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from kiosk_sim import install_scenario
from kiosk_sim.scenarios import ScenarioError


async def test_a_silent_tool_is_stopped_and_its_stacks_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(install_scenario, "SILENT_S", 0.5)
    log = tmp_path / "kiosk-provision-install.log"
    with log.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            # silent until its stdin closes (the test never writes): no timer of its own
            "import sys; print('started', file=sys.stderr, flush=True); sys.stdin.read()",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        )
    with pytest.raises(ScenarioError, match=f"silent for 0.5 s; see {log}"):
        await install_scenario._next_line(proc, log)
    assert proc.returncode is not None  # stopped, not left behind
    text = log.read_text()
    assert "started" in text and "Fatal Python error: Aborted" in text and "line 1 in" in text
