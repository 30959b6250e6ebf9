"""The simulation's admins' webhook: what it keeps, what it refuses, how a wait ends."""

from __future__ import annotations

import aiohttp

from kiosk_sim.alert_inbox import CLEARED, RAISED, AlertInbox

TAMPER = {"event": RAISED, "key": "tamper:K-1", "kind": "tamper", "target": "K-1"}


async def test_events_are_kept_listed_and_awaited() -> None:
    inbox = await AlertInbox().start()
    try:
        async with aiohttp.ClientSession() as http:
            assert (await http.post(inbox.url, json=TAMPER)).status == 204
            assert inbox.state("tamper", "K-1") == RAISED
            assert (await inbox.wait(RAISED, "tamper:K-1"))["target"] == "K-1"
            assert await inbox.until("tamper", "K-1", CLEARED, timeout=0.05) is None
            assert (await http.post(inbox.url, json={**TAMPER, "event": CLEARED})).status == 204
            assert await inbox.until("tamper", "K-1", CLEARED) is not None
            listed = await (await http.get(inbox.url)).json()
            assert [e["event"] for e in listed] == [RAISED, CLEARED]
    finally:
        await inbox.stop()
        await inbox.stop()  # safe twice


async def test_bad_bodies_are_refused_and_failures_on_purpose_counted() -> None:
    inbox = await AlertInbox().start()
    try:
        async with aiohttp.ClientSession() as http:
            for body in (b"not json", b"[1, 2]", b'{"event": "exploded"}'):
                answer = await http.post(inbox.url, data=body)
                assert answer.status == 400 and "expected" in await answer.text()
            inbox.fail_next = 1
            assert (await http.post(inbox.url, json=TAMPER)).status == 503
            assert (await http.post(inbox.url, json=TAMPER)).status == 204
        assert inbox.attempts == 5 and len(inbox.events) == 1
    finally:
        await inbox.stop()
