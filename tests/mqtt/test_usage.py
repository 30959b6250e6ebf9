"""Usage counts: the SQLite outbox (counts only, local day, sequence numbers) and, against the
real mosquitto, a broker outage that loses nothing and counts nothing twice."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.clock import local_day
from edge_agent.uplink.mqtt import Message
from edge_agent.uplink.outbox import OutboxCounter, UsageOutbox
from kiosk_sim.broker import MosquittoBroker
from protocol.mqtt import Channel, UsageMessage, parse_usage, topic
from protocol.outcomes import Outcome
from tests.mqtt.fixtures import DEVICE, WAIT, Certs, agent_config, running_kiosk

USAGE = topic(DEVICE, Channel.USAGE)
# 2026-01-01 16:30 UTC: 23:30 in Jakarta (WIB), already 00:30 on Jan 2 in Makassar (WITA)
LATE_EVENING = 1767285000.0


def test_local_day_follows_the_institutions_time_zone(tmp_path: Path) -> None:
    assert local_day(LATE_EVENING, 7) == "2026-01-01"
    assert local_day(LATE_EVENING, 8) == "2026-01-02"
    wib = UsageOutbox(tmp_path / "wib.sqlite3", "33")
    wita = UsageOutbox(tmp_path / "wita.sqlite3", "73")
    wib.add(Outcome.FOUND, LATE_EVENING)
    wita.add(Outcome.FOUND, LATE_EVENING)
    assert [m.day for m in wib.pending()] == ["2026-01-01"]
    assert [(m.day, m.utc_offset_h) for m in wita.pending()] == [("2026-01-02", 8)]


def test_counts_sequences_and_acknowledgements(tmp_path: Path) -> None:
    box = UsageOutbox(tmp_path / "usage.sqlite3", "31")
    assert box.add(Outcome.FOUND, LATE_EVENING) == 1
    assert box.add(Outcome.NOT_FOUND, LATE_EVENING) == 2
    assert box.add(Outcome.FOUND, LATE_EVENING + 86400) == 3
    pending = box.pending()
    assert [(m.day, m.seq, m.total) for m in pending] == [
        ("2026-01-01", 2, 2),
        ("2026-01-02", 3, 1),
    ]
    box.mark_sent("2026-01-01", 2)
    box.mark_sent("2026-01-01", 1)  # a late acknowledgement of an older report changes nothing
    assert [m.day for m in box.pending()] == ["2026-01-02"]
    box.add(Outcome.TIMEOUT, LATE_EVENING)
    again = box.pending()[0]
    assert again.day == "2026-01-01" and again.seq == 4
    assert dict(again.counts) == {Outcome.FOUND: 1, Outcome.NOT_FOUND: 1, Outcome.TIMEOUT: 1}
    box.close()
    reopened = UsageOutbox(tmp_path / "usage.sqlite3", "31")  # a restart keeps everything
    assert [(m.day, m.seq) for m in reopened.pending()] == [("2026-01-01", 4), ("2026-01-02", 3)]
    assert reopened.add(Outcome.FOUND, LATE_EVENING) == 5


def test_the_outbox_holds_counts_only(tmp_path: Path) -> None:
    box = UsageOutbox(tmp_path / "usage.sqlite3", "31")
    counter = OutboxCounter(box, lambda: LATE_EVENING)
    for outcome in (Outcome.FOUND, Outcome.FOUND, Outcome.CARD_UNREADABLE):
        counter.add(outcome)
    db = sqlite3.connect(tmp_path / "usage.sqlite3")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"usage", "days", "meta", "unshown"}
    columns = {t: [c[1] for c in db.execute(f"PRAGMA table_info({t})")] for t in sorted(tables)}
    assert columns == {
        "days": ["day", "seq", "sent_seq"],
        "meta": ["key", "value"],
        "unshown": ["id", "seq", "outcome", "wall"],  # the last result's code, never a person
        "usage": ["day", "outcome", "count"],
    }
    assert counter.snapshot() == {"CARD_UNREADABLE": 1, "FOUND": 2}


def test_old_sent_days_are_pruned(tmp_path: Path) -> None:
    box = UsageOutbox(tmp_path / "usage.sqlite3", "31")
    box.add(Outcome.FOUND, LATE_EVENING)
    box.add(Outcome.FOUND, LATE_EVENING + 500 * 86400)
    assert box.prune(LATE_EVENING + 500 * 86400) == 0  # not sent yet: kept
    for m in box.pending():
        box.mark_sent(m.day, m.seq)
    assert box.prune(LATE_EVENING + 500 * 86400) == 1


class Ledger:
    """The consumer's side: the highest sequence per (device, day) wins."""

    def __init__(self) -> None:
        self.days: dict[str, UsageMessage] = {}
        self.received = 0

    def add(self, message: Message) -> None:
        if message.topic != USAGE:
            return
        usage = parse_usage(message.payload)
        self.received += 1
        known = self.days.get(usage.day)
        if known is None or usage.seq > known.seq:
            self.days[usage.day] = usage

    def total(self) -> int:
        return sum(u.total for u in self.days.values())


def test_replays_count_nothing_twice() -> None:
    ledger = Ledger()
    a = UsageMessage(5, "2026-01-01", 7, {Outcome.FOUND: 4})
    b = UsageMessage(6, "2026-01-01", 7, {Outcome.FOUND: 5})
    for usage in (a, b, a, b, b):
        ledger.add(Message(USAGE, _encode(usage), 1, False))
    assert ledger.total() == 5 and ledger.received == 5


def _encode(u: UsageMessage) -> bytes:
    from protocol.mqtt import encode

    return encode(u.to_json())


async def test_a_broker_outage_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, watch: Callable[..., Any]
) -> None:
    w = await watch([(USAGE, 1)], client_id="usage-ledger")  # a persistent session
    ledger = Ledger()

    async def seen_total(n: int) -> None:
        def match(m: Message) -> bool:
            ledger.add(m)
            return ledger.total() == n

        ledger.days.clear()
        await w.wait_for(match, timeout=WAIT)

    done = 0
    async with running_kiosk(agent_config(tmp_path / "state", certs, broker)) as kiosk:
        await kiosk.ready()
        for _ in range(3):
            await kiosk.verify()
            done += 1
        await seen_total(3)

        broker.stop()
        uplink = kiosk.agent.uplink
        assert uplink is not None
        await uplink.client.wait_disconnected(WAIT)
        for _ in range(4):  # the broker is away: counted in the outbox only
            await kiosk.verify()
            done += 1
        outbox = kiosk.agent.fleet.outbox if kiosk.agent.fleet else None
        assert outbox is not None and outbox.pending()[0].total == 7

        broker.start()
        await kiosk.ready(2)
        for _ in range(2):
            await kiosk.verify()
            done += 1
        await seen_total(done)

    final = max(ledger.days.values(), key=lambda u: u.seq)
    assert dict(final.counts) == {Outcome.FOUND: 9} and done == 9
    sequences = [parse_usage(m.payload).seq for m in w.messages if m.topic == USAGE]
    assert sequences == sorted(sequences)  # one kiosk's reports arrive in order
