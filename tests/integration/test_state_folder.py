"""Fail closed when the state folder cannot be written: a real full tmpfs, a real read-only one.

The agent runs as its own process in a private mount namespace (`unshare -m`, root) whose state
folder is a small tmpfs. The test fills it or remounts it read-only through the process's view
(/proc/PID/root, `nsenter -m`): sessions are refused with STORAGE_FAILURE, health says so, a
deactivation is applied at once in memory and saved as soon as the space is back, without a
reconnect; when writing works again the kiosk verifies again by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleet.store.base import AlertKind
from kiosk_sim.mqtt_recorder import MessageRecorder
from kiosk_sim.scenarios import PageWatcher, Run, Scenario, visit
from kiosk_sim.stack import DEVICE_ID, Stack, Timeouts
from protocol.mqtt import Channel, parse_health, topic
from tests.integration.fleet_alerts import until_alert

TIMEOUTS = Timeouts(card_read=5.0, finger_wait=3.0, query=5.0, result_display=0.3)
MOUNT = 'mkdir -p "$0" && mount -t tmpfs -o size=512k,mode=0700 tmpfs "$0" && exec "$@"'


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


pytestmark = pytest.mark.skipif(
    not _namespaces_work(), reason="needs root and mount namespaces (unshare -m, tmpfs)"
)


class Kiosk:
    """The stack with its agent in a namespace, its state folder seen from outside."""

    def __init__(self, stack: Stack, page: PageWatcher, health: MessageRecorder) -> None:
        self.stack = stack
        self.run = Run(stack, page)
        self.page = page
        self.health = health

    @property
    def pid(self) -> int:
        assert self.stack.agent is not None
        return self.stack.agent.pid

    @property
    def state(self) -> Path:
        """The state folder as the agent sees it (its mount namespace)."""
        return Path(f"/proc/{self.pid}/root") / (
            self.stack.run_dir / "agent" / "state"
        ).relative_to("/")

    def fill(self) -> None:
        """Fill the tmpfs to the last byte."""
        for name, size in (("filler", 4096), ("filler-tail", 1)):
            fd = os.open(self.state / name, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
            finally:
                os.close(fd)

    def free(self) -> None:
        (self.state / "filler").unlink()
        (self.state / "filler-tail").unlink(missing_ok=True)

    def read_only(self, on: bool) -> None:
        """Make the folder read-only (a read-only bind over it) or writable again."""
        folder = str(self.stack.run_dir / "agent" / "state")
        ns = ["nsenter", "-t", str(self.pid), "-m"]
        if on:
            subprocess.run([*ns, "mount", "--bind", folder, folder], check=True)
        mode = "ro" if on else "rw"
        subprocess.run([*ns, "mount", "-o", f"remount,{mode},bind", folder], check=True)

    async def verify(self, persona: str = "ayu") -> str:
        outcome = await visit(self.run, Scenario("storage", persona, "FOUND"))
        await self.page.until(lambda s: not s.get("card_present", True), 20)
        return outcome

    def mark(self) -> int:
        """Where the health messages from now on start."""
        return self.health.count()

    async def storage_reported(self, ok: bool, since: int) -> None:
        def match(_: str, payload: bytes) -> bool:
            return parse_health(payload).storage_ok is ok

        found = await self.health.await_for(match, 30.0, since)
        assert found, f"no health with storage_ok={ok}"


@pytest.fixture
async def kiosk(tmp_path: Path) -> AsyncIterator[Kiosk]:
    stack = Stack(tmp_path / "run", timeouts=TIMEOUTS)
    state = stack.run_dir / "agent" / "state"
    stack.agent_prefix = ["unshare", "-m", "sh", "-c", MOUNT, str(state)]
    async with stack:
        assert stack.broker is not None and stack.fleet is not None
        await stack.register_kiosk()
        health = MessageRecorder(stack.broker, stack.fleet, (topic(DEVICE_ID, Channel.HEALTH),))
        await asyncio.to_thread(health.start)
        try:
            page = PageWatcher(stack.ui_url)
            async with page:
                yield Kiosk(stack, page, health)
        finally:
            await asyncio.to_thread(health.stop)


async def test_full_state_folder_refuses_sessions_and_recovers(kiosk: Kiosk) -> None:
    assert await kiosk.verify() == "FOUND"
    since = kiosk.mark()
    await asyncio.to_thread(kiosk.fill)
    assert await kiosk.verify("bagas") == "STORAGE_FAILURE"  # the answer could not be counted
    await kiosk.storage_reported(False, since)
    assert await kiosk.verify() == "STORAGE_FAILURE"  # refused before the card is read
    since = kiosk.mark()
    kiosk.free()
    await kiosk.storage_reported(True, since)
    assert await kiosk.verify("bagas") == "FOUND"


async def test_read_only_state_folder_refuses_sessions_and_recovers(kiosk: Kiosk) -> None:
    assert await kiosk.verify() == "FOUND"
    since = kiosk.mark()
    kiosk.read_only(True)
    await kiosk.storage_reported(False, since)  # found by the folder check, not by a citizen
    await until_alert(kiosk.stack, AlertKind.STORAGE_FAILURE, DEVICE_ID)  # to the admins
    assert await kiosk.verify("bagas") == "STORAGE_FAILURE"
    since = kiosk.mark()
    kiosk.read_only(False)
    await kiosk.storage_reported(True, since)
    await until_alert(kiosk.stack, AlertKind.STORAGE_FAILURE, DEVICE_ID, raised=False)  # cleared
    assert await kiosk.verify() == "FOUND"


async def test_deactivation_on_a_full_disk_applies_at_once_and_is_saved_later(
    kiosk: Kiosk,
) -> None:
    assert kiosk.stack.fleet is not None
    assert await kiosk.verify() == "FOUND"
    state_file = kiosk.state / "remote-state.json"
    before = state_file.read_bytes() if state_file.exists() else b""
    await asyncio.to_thread(kiosk.fill)
    code, out = await kiosk.stack.fleet.fleet(
        "deactivate", DEVICE_ID, "--reason", "test: full disk", "--timeout", "20"
    )
    assert code == 0, out
    await kiosk.page.until(lambda s: s.get("screen") == "deactivated", 20)
    assert (state_file.read_bytes() if state_file.exists() else b"") == before  # not saved yet
    connections = kiosk.stack.run_dir / "agent" / "agent.log"
    reconnects = connections.read_text().count("connected to the broker")
    since = kiosk.mark()
    kiosk.free()
    await kiosk.storage_reported(True, since)
    saved = json.loads(state_file.read_bytes())
    assert saved["deactivated"] is True
    assert connections.read_text().count("connected to the broker") == reconnects
    # a card is refused: the kiosk stays deactivated
    await kiosk.run.devices(kiosk.stack.devices.insert_card, "ayu", None)
    await kiosk.page.until(lambda s: s.get("screen") == "deactivated", 20)
    await kiosk.run.devices(kiosk.stack.devices.remove_card)
