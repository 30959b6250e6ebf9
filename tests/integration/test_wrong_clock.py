"""Time the kiosk can trust: the agent (its own process) with its clock a day and ten minutes off
either way, against the real gateway, mosquitto and fleet service.

The agent's wall clock is shifted with the test setting `EDGE_AGENT_TEST_CLOCK_OFFSET_S`
(edge_agent/wiring/testclock.py; OpenSSL's clock is not moved, see docs/kiosk-agent.md). The
usage of a verification is counted on the gateway's day, not the kiosk's; health reports the
offset measured against the gateway and the fleet service raises its clock alert; a signed
deactivation issued on the admin side's clock is applied at once all the same. (A reactivation
judged on the gateway's clock: tests/remote/test_control.py.)
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from common.clock import local_day
from edge_agent.wiring.testclock import ENV
from fleet.store.base import AlertKind
from kiosk_sim.mqtt_recorder import MessageRecorder
from kiosk_sim.scenarios import PageWatcher, Run, Scenario, visit
from kiosk_sim.stack import DEVICE_ID, Stack, Timeouts
from protocol.mqtt import Channel, UsageMessage, parse_health, parse_usage, topic
from tests.integration.fleet_alerts import until_alert

TIMEOUTS = Timeouts(card_read=5.0, finger_wait=3.0, query=5.0, result_display=0.3)
OFF = 86400 + 600  # a day and ten minutes


def _usage(recorder: MessageRecorder) -> list[UsageMessage]:
    return [parse_usage(p) for _, name, p, _ in list(recorder.messages) if name.endswith("/usage")]


def _offsets(recorder: MessageRecorder) -> list[int | None]:
    return [
        parse_health(p).clock_offset_s
        for _, name, p, _ in list(recorder.messages)
        if name.endswith("/health")
    ]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("offset", [-OFF, OFF], ids=["behind", "ahead"])
async def test_a_wrong_clock_counts_on_the_gateways_day_and_deactivation_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offset: int
) -> None:
    monkeypatch.setenv(ENV, str(offset))  # read by the agent process only
    async with Stack(tmp_path / "run", timeouts=TIMEOUTS) as stack:
        assert stack.fleet is not None and stack.broker is not None
        await stack.register_kiosk()
        watched = (topic(DEVICE_ID, Channel.USAGE), topic(DEVICE_ID, Channel.HEALTH))
        recorder = MessageRecorder(stack.broker, stack.fleet, watched)
        await asyncio.to_thread(recorder.start)
        try:
            # measured by the first health probe (on connect) and reported at once
            await recorder.await_for(
                lambda *_: any(o is not None and abs(o + offset) <= 2 for o in _offsets(recorder)),
                30.0,
            )
            async with PageWatcher(stack.ui_url) as page:
                assert await visit(Run(stack, page), Scenario("clock", "ayu", "FOUND")) == "FOUND"
                await recorder.await_for(lambda *_: bool(_usage(recorder)), 20.0)
                (usage,) = _usage(recorder)
                gateway_day = local_day(time.time(), usage.utc_offset_h)
                assert (
                    usage.day == gateway_day != local_day(time.time() + offset, usage.utc_offset_h)
                )

                # the fleet service raises its clock alert from that health report
                await until_alert(stack, AlertKind.CLOCK_OFFSET, DEVICE_ID)

                # issued on the admin side's clock, applied at once on the kiosk's wrong one
                code, out = await stack.fleet.fleet(
                    "deactivate", DEVICE_ID, "--reason", "test: wrong clock", "--timeout", "20"
                )
                assert code == 0, out
                await page.until(lambda s: s.get("screen") == "deactivated", 20)
        finally:
            await asyncio.to_thread(recorder.stop)
