"""Counted before shown: the agent (its own process) is killed at random moments of sessions.

The whole simulated stack runs (pcscd + vpcd, the fingerprint module on a pty, the gateway,
mosquitto, the fleet service, the institution's service for data balikan); a synthetic citizen
verifies again and again while the agent is SIGKILLed in every phase of a session (idle, reading
the card, waiting for the finger, querying the gateway, just after the outbox's commit, showing
the result, just after it). After each kill the agent starts again. After every restart, and at
the end, the outcomes the page showed, the outbox's counts and the broker's (the highest sequence
per day and epoch) are the same, exactly.

"Shown" is what reached the page: a result screen carries the id of its count (the page may get
it twice, before and after a restart, and shows one verification then); what the killed agent
wrote before it died is read too (a browser renders it). A kill between the outbox's commit and
the result screen (during the data balikan, say) leaves a count the page never got: the
restarted agent shows that result first (edge_agent/session/restored.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kiosk_sim.mqtt_recorder import MessageRecorder
from kiosk_sim.scenarios import PageWatcher, Run, Scenario, ScenarioError, visit
from kiosk_sim.stack import DEVICE_ID, Stack, Timeouts
from protocol.mqtt import Channel, parse_usage, topic

PHASES = ("idle", "reading", "finger", "querying", "counted", "result", "after_result")
KILLS = 28  # every phase four times
TIMEOUTS = Timeouts(card_read=5.0, finger_wait=3.0, query=5.0, result_display=0.3)


class CountingPage(PageWatcher):
    """The kiosk page, counting the results it showed and signalling each screen."""

    def __init__(self, ui_url: str) -> None:
        super().__init__(ui_url)
        self.shown: collections.Counter[str] = collections.Counter()
        self.result_ids: set[str] = set()
        self.restored = 0  # results seen again, or first, after a restart
        self.changed = asyncio.Condition()

    async def next(self, timeout: float) -> dict[str, Any]:
        msg = await super().next(timeout)
        if msg.get("screen") == "result":
            result_id = msg.get("result_id")
            if result_id is None or result_id not in self.result_ids:
                self.shown[str(msg.get("outcome"))] += 1
            if isinstance(result_id, str):
                self.result_ids.add(result_id)
        async with self.changed:
            self.changed.notify_all()
        return msg

    async def drain(self) -> None:
        """Read what the killed agent wrote before it died, up to the closed connection."""
        with contextlib.suppress(ScenarioError, ConnectionError, RuntimeError):
            while True:
                await self.next(10.0)

    async def reached(self, screen: str) -> None:
        """Return once the page shows `screen`."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.screen.get("screen") == screen)


def _outbox_counts(path: Path) -> collections.Counter[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT outcome, SUM(count) FROM usage GROUP BY outcome").fetchall()
    return collections.Counter({outcome: int(n) for outcome, n in rows})


def _broker_counts(recorder: MessageRecorder) -> collections.Counter[str]:
    """The consumer's rule: per day, the message with the highest sequence."""
    best: dict[str, Any] = {}
    for _, name, payload, _ in list(recorder.messages):
        if name.endswith("/usage"):
            msg = parse_usage(payload)
            if msg.day not in best or msg.seq > best[msg.day].seq:
                best[msg.day] = msg
    total: collections.Counter[str] = collections.Counter()
    for msg in best.values():
        total.update({o.value: n for o, n in msg.counts.items()})
    return total


def _shown_outcomes(counts: collections.Counter[str]) -> collections.Counter[str]:
    """Counts of the outcomes a result screen shows (a pulled card is CANCELLED, not shown)."""
    return counts - collections.Counter({"CANCELLED": counts["CANCELLED"]})


async def _kill_in(
    phase: str, page: CountingPage, rng: random.Random, outbox: Path, before: int
) -> None:
    if phase == "counted":  # just after the outbox's commit, before the page has the result
        while _outbox_counts(outbox).total() == before:
            await asyncio.sleep(0.001)  # polling another process's database
    elif phase == "after_result":
        await page.reached("result")
        await asyncio.sleep(rng.uniform(0.0, TIMEOUTS.result_display + 0.05))
    elif phase != "idle":
        await page.reached(phase)
        # a random moment inside the phase (the card read is short: a shorter window there)
        await asyncio.sleep(rng.uniform(0.0, 0.005 if phase == "reading" else 0.05))


async def _restart(stack: Stack, run: Run, page: CountingPage) -> None:
    dev = stack.devices
    await run.devices(dev.remove_card)
    await run.devices(dev.lift_finger)
    stack.agent = None
    await stack.start_agent()
    await page.reconnect()
    before = page.shown.total()
    await page.until(lambda s: s.get("screen") == "idle" and not s.get("card_present"), 20)
    page.restored += page.shown.total() - before


@pytest.mark.timeout(240)
async def test_counts_are_exact_across_random_kills(tmp_path: Path) -> None:
    rng = random.Random(19)
    async with Stack(tmp_path / "run", timeouts=TIMEOUTS) as stack:
        assert stack.broker is not None and stack.fleet is not None
        usage_topic = topic(DEVICE_ID, Channel.USAGE)
        recorder = MessageRecorder(stack.broker, stack.fleet, (usage_topic,))
        await asyncio.to_thread(recorder.start)
        try:
            outbox_path = stack.run_dir / "agent" / "state" / "usage.sqlite3"
            kills: list[tuple[str, str, int]] = []  # per kill: phase, screen, counted - shown
            page = CountingPage(stack.ui_url)
            async with page:
                run = Run(stack, page)
                for i in range(KILLS):
                    phase = PHASES[i % len(PHASES)]
                    persona = ("ayu", "bagas")[i % 2]
                    agent = stack.agent
                    assert agent is not None
                    session = asyncio.ensure_future(visit(run, Scenario("kill", persona, "FOUND")))
                    before = _outbox_counts(outbox_path).total()
                    killer = asyncio.ensure_future(_kill_in(phase, page, rng, outbox_path, before))
                    await asyncio.wait({session, killer}, return_when=asyncio.FIRST_COMPLETED)
                    assert killer.done(), f"kill {i} ({phase}): the visit ended first"
                    last_screen = str(page.screen.get("screen"))
                    agent.kill()
                    await asyncio.to_thread(agent.wait)
                    with contextlib.suppress(ScenarioError, asyncio.CancelledError):
                        session.cancel()
                        await session
                    await page.drain()
                    await _restart(stack, run, page)
                    behind = (
                        _shown_outcomes(_outbox_counts(outbox_path)).total() - page.shown.total()
                    )
                    kills.append((phase, last_screen, behind))
                # one last visit, undisturbed, to show the kiosk works after it all
                assert await visit(run, Scenario("last", "ayu", "FOUND")) == "FOUND"
                await page.until(lambda s: not s.get("card_present", True), 20)
            outbox = _outbox_counts(outbox_path)

            # the broker has the outbox's counts once the last usage message is acknowledged
            await recorder.await_for(lambda *_: _broker_counts(recorder) == outbox, 20.0)
        finally:
            await asyncio.to_thread(recorder.stop)
    shown = page.shown
    report = json.dumps(
        {"outbox": outbox, "shown": shown, "restored": page.restored, "kills": kills}
    )
    assert shown["FOUND"] > KILLS // 3
    # every screen of a session had its kills
    assert {screen for _, screen, _ in kills} >= {"idle", "reading", "finger", "querying", "result"}
    # after every kill and restart: nothing counted that the page did not get, nothing shown
    # that was not counted
    assert all(behind == 0 for _, _, behind in kills), report
    assert shown == _shown_outcomes(outbox), report
    assert _broker_counts(recorder) == outbox
    print(report)
