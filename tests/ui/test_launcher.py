"""deploy/kiosk-ui-chromium.sh opens the agent's page (here headless, with a screenshot)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from edge_agent.ui.server import UiServer

ROOT = Path(__file__).parents[2]
LAUNCHER = ROOT / "deploy" / "kiosk-ui-chromium.sh"
SCREENS = ROOT / "build" / "screens"
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} is missing: install Debian's chromium (scripts/install-debian-packages.sh)",
)


async def _launch(url: str, *args: str) -> tuple[int, str]:
    env = dict(os.environ, KIOSK_UI_URL=url, KIOSK_UI_WAIT="10", CHROMIUM=CHROMIUM)
    proc = await asyncio.create_subprocess_exec(
        str(LAUNCHER),
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")


async def test_launcher_opens_the_page() -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    shot = SCREENS / "00-launcher.png"
    shot.unlink(missing_ok=True)
    ui = UiServer("127.0.0.1", 0)
    await ui.start()
    try:
        code, err = await _launch(
            ui.url,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1280,800",
            "--virtual-time-budget=3000",
        )
    finally:
        await ui.stop()
    assert code == 0, err
    assert shot.stat().st_size > 1000


async def test_launcher_refuses_a_page_off_loopback() -> None:
    code, err = await _launch("http://192.0.2.1:8080/")
    assert code == 2
    assert "not on loopback" in err


def test_launcher_lets_the_page_speak_and_zoom() -> None:
    script = LAUNCHER.read_text()
    assert "--autoplay-policy=no-user-gesture-required" in script  # the spoken prompts
    assert "--disable-pinch" not in script  # zooming allowed
