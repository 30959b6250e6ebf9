"""Sequences that survive their store: an outbox made again starts a new epoch, so a consumer
that keeps the highest seq per day and epoch and sums the epochs ignores no count."""

from __future__ import annotations

import collections
import sqlite3
from pathlib import Path

from edge_agent.uplink.outbox import UsageOutbox
from protocol.mqtt import UsageMessage, encode, parse_usage
from protocol.outcomes import Outcome

T0 = 1_767_225_600.0  # 2026-01-01 07:00 WIB


def consumer_total(messages: list[UsageMessage]) -> int:
    """The fleet store's rule: per (day, epoch) the highest seq; a day sums its epochs."""
    best: dict[tuple[str, int], UsageMessage] = {}
    for msg in messages:
        key = (msg.day, msg.epoch)
        if key not in best or msg.seq > best[key].seq:
            best[key] = msg
    return sum(m.total for m in best.values())


def test_a_truncated_outbox_starts_a_new_epoch_and_no_count_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    sent: list[UsageMessage] = []
    box = UsageOutbox(path, "31", T0)
    first_epoch = box.epoch
    for _ in range(5):
        box.add(Outcome.FOUND, T0 + 60)
    sent += [parse_usage(encode(m.to_json())) for m in box.pending()]
    box.close()
    assert UsageOutbox(path, "31", T0 + 999).epoch == first_epoch  # the same outbox: same epoch

    path.unlink()  # the SD card lost the outbox (or it was truncated and made again)
    box = UsageOutbox(path, "31", T0 + 3600)
    assert box.epoch > first_epoch
    box.add(Outcome.FOUND, T0 + 3700)
    box.add(Outcome.NOT_FOUND, T0 + 3700)
    again = box.pending()
    assert [m.seq for m in again] == [2]  # its sequence restarted
    sent += [parse_usage(encode(m.to_json())) for m in again]
    box.close()
    assert consumer_total(sent) == 7  # 5 of the old epoch + 2 of the new one, none ignored
    # the old rule (highest seq per day, epochs ignored) would have lost the new counts
    per_day: dict[str, UsageMessage] = {}
    for msg in sent:
        if msg.day not in per_day or msg.seq > per_day[msg.day].seq:
            per_day[msg.day] = msg
    assert sum(m.total for m in per_day.values()) == 5
    assert collections.Counter(m.epoch for m in sent) == {first_epoch: 1, box.epoch: 1}


def test_an_outbox_made_before_epochs_keeps_epoch_0(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    box = UsageOutbox(path, "31", T0)
    box.add(Outcome.FOUND, T0 + 60)
    box.close()
    with sqlite3.connect(path) as db:  # as the agent before epochs left it
        db.execute("DELETE FROM meta WHERE key = 'epoch'")
    db.close()
    box = UsageOutbox(path, "31", T0 + 999)
    assert box.epoch == 0  # what its messages carried (none: 0), so the fleet replaces the day
    box.add(Outcome.FOUND, T0 + 120)
    (msg,) = box.pending()
    assert (msg.epoch, msg.seq, msg.total) == (0, 2, 2)
    box.close()
