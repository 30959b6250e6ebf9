"""State that cannot be undone from the SD card: the agent (its own process) restarted on a
state file edited, rolled back or deleted (with the broker down) starts deactivated, and the
broker's retained deactivation keeps it so."""

from __future__ import annotations

import json
from pathlib import Path

from kiosk_sim.scenarios import PageWatcher, Run, Scenario, visit
from kiosk_sim.stack import DEVICE_ID, Stack, Timeouts

TIMEOUTS = Timeouts(card_read=5.0, finger_wait=3.0, query=5.0, result_display=0.3)


def _deactivated(screen: dict[str, object]) -> bool:
    return screen.get("screen") == "deactivated"


async def _restart(stack: Stack, page: PageWatcher, damage: object) -> None:
    await stack.stop_agent()
    if callable(damage):
        damage()
    await stack.start_agent()
    await page.reconnect()
    first = await page.until(lambda s: s.get("type") == "screen", 20)
    assert _deactivated(first), first  # deactivated from its first screen on


async def test_edited_rolled_back_or_deleted_state_never_leaves_a_deactivated_kiosk_active(
    tmp_path: Path,
) -> None:
    async with Stack(tmp_path / "run", timeouts=TIMEOUTS) as stack:
        assert stack.fleet is not None and stack.broker is not None
        await stack.register_kiosk()
        state = stack.run_dir / "agent" / "state" / "remote-state.json"
        page = PageWatcher(stack.ui_url)
        async with page:
            assert await visit(Run(stack, page), Scenario("active", "ayu", "FOUND")) == "FOUND"
            active_copy = state.read_bytes()  # what someone with the SD card kept
            code, out = await stack.fleet.fleet(
                "deactivate", DEVICE_ID, "--reason", "test: SD card", "--timeout", "20"
            )
            assert code == 0, out
            await page.until(_deactivated, 20)

            def edit() -> None:
                obj = json.loads(state.read_bytes())
                obj["deactivated"] = False
                obj["sanctions"] = []
                state.write_text(json.dumps(obj))

            await _restart(stack, page, edit)
            await _restart(stack, page, lambda: state.write_bytes(active_copy))
            # the broker's retained document was applied again: the file is good again
            assert json.loads(state.read_bytes())["deactivated"] is True

            stack.broker.stop()  # no retained document to rely on
            await _restart(stack, page, state.unlink)
