"""The usage outbox: sessions per outcome per local day, in SQLite, until the broker has them.

Counts only: a day, an outcome code, a number. Every new count bumps a sequence number (one
sequence per outbox, never reused); a day whose last change is not yet acknowledged by the broker
is pending. A usage message carries the day's cumulative counts with the sequence of its last
change and the outbox's epoch (its creation time in ms, made once with the database), so a
consumer that keeps the highest sequence per day and epoch, and sums a day over its epochs,
neither loses nor double-counts, whatever is replayed after an outage, and ignores nothing
counted after the outbox was lost or truncated and made again.

The local day is the institution's (WIB, WITA or WIT, from its province), as at the gateway.
Writes are synchronous (WAL, synchronous=FULL): a count is on disk before the session is over.
A count whose result screen is to follow is also remembered as unshown, in the same transaction,
until the page has it; an agent stopped in between shows it after its restart.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from common.clock import local_day
from edge_agent.errors import StorageFailure
from edge_agent.session.counters import Counted, OutcomeCounter
from protocol.mqtt import UsageMessage
from protocol.outcomes import Outcome
from protocol.regions import utc_offset_hours

_log = logging.getLogger(__name__)

KEEP_DAYS = 400  # sent days older than this are dropped (two semesters and then some)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL, outcome TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (day, outcome)
);
CREATE TABLE IF NOT EXISTS days (
    day TEXT PRIMARY KEY, seq INTEGER NOT NULL, sent_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS unshown (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, outcome TEXT NOT NULL,
    wall REAL NOT NULL
);
"""
RESHOW_WITHIN = 600.0  # s: an unshown result older than this at a restart is not shown any more


class UsageOutbox:
    """Counts per outcome per local day, with what the broker has acknowledged."""

    def __init__(self, path: Path, province: str, wall: float | None = None) -> None:
        self.path = path
        self.utc_offset_h = utc_offset_hours(province)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.epoch = self._epoch(time.time() if wall is None else wall)

    def _epoch(self, wall: float) -> int:
        """This outbox's epoch: made once, when the database is made (its time in ms).

        An outbox made before epochs (it has counted, it has no epoch) keeps epoch 0, the epoch
        its messages had: a consumer replaces that day's counts rather than adding them again.
        """
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) SELECT 'epoch', CASE WHEN EXISTS "
                "(SELECT 1 FROM meta WHERE key = 'usage_seq') THEN 0 ELSE ? END",
                (int(wall * 1000),),
            )
            row = self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def add(self, outcome: Outcome, wall: float, shown: bool = False) -> int:
        """Count one session ending in `outcome` at `wall`; the new sequence number.

        `shown`: its result screen follows; it is unshown until `clear_unshown`.
        """
        day = local_day(wall, self.utc_offset_h)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            seq = self._next("usage_seq")
            if shown:
                self._db.execute(
                    "INSERT OR REPLACE INTO unshown (id, seq, outcome, wall) VALUES (1, ?, ?, ?)",
                    (seq, outcome.value, wall),
                )
            self._db.execute(
                "INSERT INTO usage (day, outcome, count) VALUES (?, ?, 1) "
                "ON CONFLICT (day, outcome) DO UPDATE SET count = count + 1",
                (day, outcome.value),
            )
            self._db.execute(
                "INSERT INTO days (day, seq) VALUES (?, ?) "
                "ON CONFLICT (day) DO UPDATE SET seq = excluded.seq",
                (day, seq),
            )
        return seq

    def unshown(self) -> tuple[int, str, float] | None:
        """The last count whose result screen never reached a page: sequence, outcome, time."""
        row = self._db.execute("SELECT seq, outcome, wall FROM unshown").fetchone()
        return (int(row[0]), str(row[1]), float(row[2])) if row else None

    def clear_unshown(self, seq: int) -> None:
        """The result screen of count `seq` reached a page."""
        with self._db:
            self._db.execute("DELETE FROM unshown WHERE seq <= ?", (seq,))

    def pending(self) -> list[UsageMessage]:
        """The days with counts the broker has not acknowledged, oldest first."""
        rows = self._db.execute(
            "SELECT day, seq FROM days WHERE seq > sent_seq ORDER BY day"
        ).fetchall()
        return [self.report(day, seq) for day, seq in rows]

    def report(self, day: str, seq: int | None = None) -> UsageMessage:
        """The cumulative counts of one day (with its last sequence unless given)."""
        if seq is None:
            row = self._db.execute("SELECT seq FROM days WHERE day = ?", (day,)).fetchone()
            seq = int(row[0]) if row else 0
        counts: dict[Outcome, int] = {}
        for outcome, count in self._db.execute(
            "SELECT outcome, count FROM usage WHERE day = ? ORDER BY outcome", (day,)
        ):
            try:
                counts[Outcome(outcome)] = int(count)
            except ValueError:  # an outcome code a later version removed: keep, do not send
                _log.warning("outbox holds an unknown outcome code; not reported")
        return UsageMessage(seq, day, self.utc_offset_h, counts, self.epoch)

    def mark_sent(self, day: str, seq: int) -> None:
        """The broker acknowledged the report of `day` with sequence `seq`."""
        with self._db:
            self._db.execute(
                "UPDATE days SET sent_seq = MAX(sent_seq, ?) WHERE day = ?", (seq, day)
            )

    def today(self, wall: float) -> UsageMessage:
        """Today's counts."""
        return self.report(local_day(wall, self.utc_offset_h))

    def prune(self, wall: float, keep_days: int = KEEP_DAYS) -> int:
        """Drop sent days older than `keep_days`; how many days were dropped."""
        cutoff = local_day(wall - keep_days * 86400, self.utc_offset_h)
        with self._db:
            old = [
                day
                for (day,) in self._db.execute(
                    "SELECT day FROM days WHERE day < ? AND sent_seq >= seq", (cutoff,)
                )
            ]
            for day in old:
                self._db.execute("DELETE FROM usage WHERE day = ?", (day,))
                self._db.execute("DELETE FROM days WHERE day = ?", (day,))
        return len(old)

    def probe(self) -> None:
        """One small durable write (is the folder writable again?); sqlite3.Error if not."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._next("write_probe")

    def next_health_seq(self) -> int:
        """A health report's sequence number (increasing across restarts)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            return self._next("health_seq")

    def _next(self, key: str) -> int:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, 1) "
            "ON CONFLICT (key) DO UPDATE SET value = value + 1",
            (key,),
        )
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0])


class OutboxCounter(OutcomeCounter):
    """The session's outcome counter that also writes every count to the outbox."""

    def __init__(
        self,
        outbox: UsageOutbox,
        wall: Callable[[], float],
        on_added: Callable[[], None] | None = None,
        on_failure: Callable[[StorageFailure], None] | None = None,
    ) -> None:
        super().__init__()
        self._outbox = outbox
        self.wall = wall  # the gateway's clock once known: its local day
        self.on_added = on_added
        self.on_failure = on_failure

    def add(self, outcome: Outcome, shown: bool = False) -> str:
        """Count in the outbox (durably), then in memory, then tell the publisher; the result id.

        StorageFailure if the outbox cannot be written: the count is not kept anywhere, and the
        caller must not show the outcome as if it were.
        """
        try:
            seq = self._outbox.add(outcome, self.wall(), shown)
        except sqlite3.Error as err:
            failure = StorageFailure(self._outbox.path, str(err))
            if self.on_failure is not None:
                self.on_failure(failure)
            raise failure from err
        super().add(outcome, shown)
        if self.on_added is not None:
            try:
                self.on_added()
            except Exception:
                _log.exception("usage publisher notification failed")
        return f"{self._outbox.epoch}-{seq}"

    def delivered(self, result_id: str) -> None:
        """The page has the result screen `result_id`: it is no longer unshown."""
        epoch, _, seq = result_id.partition("-")
        if epoch != str(self._outbox.epoch) or not seq.isdigit():
            return
        try:
            self._outbox.clear_unshown(int(seq))
        except sqlite3.Error as err:  # shown once more after a restart at worst
            _log.warning("cannot mark result %s shown in %s: %s", result_id, self._outbox.path, err)

    def unshown(self) -> Counted | None:
        """The result counted before the agent stopped but never shown (recent ones only)."""
        try:
            row = self._outbox.unshown()
        except sqlite3.Error as err:
            _log.warning("cannot read the unshown result in %s: %s", self._outbox.path, err)
            return None
        if row is None:
            return None
        seq, code, at = row
        result_id = f"{self._outbox.epoch}-{seq}"
        try:
            outcome = Outcome(code)
        except ValueError:
            outcome = None
        if outcome is None or abs(self.wall() - at) > RESHOW_WITHIN:
            _log.info(
                "result %s counted before the restart is not shown again (too old)", result_id
            )
            self.delivered(result_id)
            return None
        return Counted(outcome, result_id)
