"""The alert engine: the rules (`rules`) applied on ingest and on a timer, each alert raised once
and cleared when resolved, through the store, and each change sent to the webhook.

- On ingest (after each committed batch): a kiosk's newest health report decides its tamper and
  fault alerts at once (a tamper is raised within the batch's commit, well under 2 s).
- On the timer (`interval`, the injected clock): the whole fleet table (lost, certificate,
  deactivation pending, and tamper and faults again from the stored latest), and, with a
  [gateway], each registered institution's quota and the jump in anti-scraping refusals since
  the previous sweep.

Replicas may evaluate the same kiosk: the store opens an alert once (raise_alert is False for
an open key) and clears it once (clear_alert is None the second time), and only the replica
whose call changed the store sends the webhook.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from common.clock import Clock
from fleet.errors import FleetError
from fleet.service.gateway_poll import GatewayPoller
from fleet.service.rules import (
    DEVICE_KINDS,
    HEALTH_KINDS,
    DesiredInfo,
    Wanted,
    alert_key,
    device_alerts,
    health_alerts,
    quota_alert,
    read_desired,
    scraping_alert,
)
from fleet.service.settings import AlertSettings
from fleet.service.webhook import AlertEvent, Webhook
from fleet.store.base import (
    Alert,
    AlertKind,
    DeviceState,
    FleetRow,
    FleetStore,
    Ingest,
)
from protocol.mqtt import HealthMessage, TopicError, parse_topic

_log = logging.getLogger(__name__)
T = TypeVar("T")
StoreCall = Callable[[Callable[[FleetStore], T]], Awaitable[T]]
_INSTITUTION_KINDS = (AlertKind.QUOTA_NEARLY_USED, AlertKind.SCRAPING)
MAX_OPEN = 100_000


@dataclass(frozen=True, slots=True)
class Scope:
    """What one evaluation decided: these kinds for these targets (None: every target)."""

    kinds: tuple[AlertKind, ...]
    targets: frozenset[str] | None


class AlertEngine:
    """Raises and clears alerts; `changed` is set after each change (tests await it)."""

    def __init__(
        self,
        call: StoreCall[Any],
        settings: AlertSettings,
        clock: Clock,
        *,
        webhook: Webhook | None = None,
        gateway: GatewayPoller | None = None,
        on_raised: Callable[[Alert], Awaitable[None]] | None = None,
    ) -> None:
        self._on_raised = on_raised  # after this replica raised an alert (the CA revokes)
        self._call = call
        self.settings = settings
        self._clock = clock
        self._webhook = webhook
        self._gateway = gateway
        self.desired: dict[str, DesiredInfo] = {}
        self._open: set[str] = set()
        self._health_seq: dict[str, int] = {}
        self._mismatch_seen: dict[str, int] = {}
        self._blocked_before: dict[str, int] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.changed = asyncio.Event()
        self.sweeps = 0

    # --- inputs -----------------------------------------------------------------------------

    def desired_received(self, topic: str, raw: bytes) -> None:
        """A retained `desired` (in the event loop)."""
        try:
            device = parse_topic(topic).device
        except TopicError:
            return
        info = read_desired(raw)
        if info is None:
            self.desired.pop(device, None)
        else:
            self.desired[device] = info
        self.changed.set()

    def ingested(self, batch: Sequence[Ingest]) -> None:
        """A committed batch (in the event loop): tamper and faults from new health reports."""
        newest: dict[str, HealthMessage] = {}
        for item in batch:
            msg = item.message
            if isinstance(msg, HealthMessage) and msg.seq > self._health_seq.get(item.device, -1):
                self._health_seq[item.device] = msg.seq
                newest[item.device] = msg
        if not newest:
            return
        wanted = [w for d, h in newest.items() for w in health_alerts(d, h)]
        scope = Scope(HEALTH_KINDS, frozenset(newest))
        if not wanted and not any(self._in_scope(k, scope) for k in self._open):
            return  # nothing open, nothing to open: no store call
        task = asyncio.create_task(self._apply(wanted, scope))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the timer --------------------------------------------------------------------------

    async def run(self) -> None:
        """Sweep every `interval` seconds until cancelled."""
        while True:
            try:
                await self.sweep()
            except FleetError as err:
                _log.warning("alert sweep: %s", err)
            except Exception:
                _log.exception("alert sweep failed")
            await self._clock.sleep(self.settings.interval)

    async def stop(self) -> None:
        """Cancel evaluations still running."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def sweep(self) -> None:
        """Evaluate every rule over the whole fleet (and the gateway's counts)."""
        now = int(self._clock.time())
        rows, open_alerts, since = await self._call(self._snapshot)
        self._open = {a.key for a in open_alerts}
        wanted: list[Wanted] = []
        for row in rows:
            wanted += device_alerts(
                row, now, self.settings, self.desired.get(row.device), since.get(row.device)
            )
        await self._apply(wanted, Scope(DEVICE_KINDS, None))
        if self._gateway is not None:
            institutions = sorted({r.entry.institution for r in rows if r.entry is not None})
            await self._gateway_alerts(institutions, now)
        self.sweeps += 1
        self.changed.set()

    def _snapshot(self, store: FleetStore) -> tuple[list[FleetRow], list[Alert], dict[str, int]]:
        """The store's side of a sweep, in one call in its thread."""
        rows = store.fleet()
        open_alerts = store.alerts(open_only=True, limit=MAX_OPEN)
        now = int(self._clock.time())
        since: dict[str, int] = {}
        for row in rows:
            if (
                row.entry is not None
                and row.entry.state is DeviceState.DEACTIVATED
                and (row.reported is None or not row.reported.deactivated)
            ):
                lines = [
                    line.entry.at
                    for line in store.audit_lines(row.device)
                    if line.entry.action == "deactivate"
                ]
                seen = self._mismatch_seen.setdefault(row.device, now)
                since[row.device] = max(lines) if lines else seen
            else:
                self._mismatch_seen.pop(row.device, None)
        return rows, open_alerts, since

    async def _gateway_alerts(self, institutions: list[str], now: int) -> None:
        assert self._gateway is not None
        wanted: list[Wanted] = []
        polled: set[str] = set()
        for inst in institutions:
            try:
                quota = await self._gateway.quota(inst)
            except FleetError as err:
                _log.warning("quota of %s: %s", inst, err)
                continue
            polled.add(inst)
            if quota is not None:
                alert = quota_alert(inst, quota[0], quota[1], self.settings.quota_ratio)
                wanted += [alert] if alert is not None else []
        await self._apply(wanted, Scope((AlertKind.QUOTA_NEARLY_USED,), frozenset(polled)))

        day = dt.datetime.fromtimestamp(now, dt.UTC).date()
        one = dt.timedelta(days=1)
        try:
            blocked = await self._gateway.pattern_blocked(
                (day - one).isoformat(), (day + one).isoformat()
            )
        except FleetError as err:
            _log.warning("anti-scraping counts: %s", err)
            return
        before, self._blocked_before = self._blocked_before, blocked
        if before is None:
            return  # the first poll is the baseline
        jumps = [
            scraping_alert(inst, n - before.get(inst, 0), self.settings.scraping_jump)
            for inst, n in blocked.items()
        ]
        await self._apply(
            [w for w in jumps if w is not None],
            Scope((AlertKind.SCRAPING,), frozenset(blocked) | frozenset(before)),
        )

    # --- raising and clearing ---------------------------------------------------------------

    @staticmethod
    def _in_scope(key: str, scope: Scope) -> bool:
        kind, _, target = key.partition(":")
        if kind not in {k.value for k in scope.kinds}:
            return False
        return scope.targets is None or target in scope.targets

    async def _apply(self, wanted: Iterable[Wanted], scope: Scope) -> None:
        wanted_by_key = {w.key: w for w in wanted}
        to_raise = [w for k, w in wanted_by_key.items() if k not in self._open]
        to_clear = [k for k in self._open if self._in_scope(k, scope) and k not in wanted_by_key]
        if not to_raise and not to_clear:
            return
        now = int(self._clock.time())

        def change(store: FleetStore) -> tuple[list[Alert], list[Alert], list[str]]:
            raised: list[Alert] = []
            cleared: list[Alert] = []
            already: list[Alert] = []
            for w in to_raise:
                alert = Alert(w.key, w.kind, w.target, w.detail, now)
                (raised if store.raise_alert(alert) else already).append(alert)
            for key in to_clear:
                done = store.clear_alert(key, now)
                if done is not None:
                    cleared.append(done)
            return raised, cleared, [a.key for a in already]

        raised, cleared, already = await self._call(change)
        self._open.update(a.key for a in raised)
        self._open.update(already)
        self._open.difference_update(to_clear)
        for alert in raised:
            _log.warning("alert raised: %s (%s)", alert.key, alert.detail)
            self._send("raised", alert)
            if self._on_raised is not None:
                await self._on_raised(alert)
        for alert in cleared:
            _log.info("alert cleared: %s", alert.key)
            self._send("cleared", alert)
        self.changed.set()

    def _send(self, event: str, alert: Alert) -> None:
        if self._webhook is not None:
            self._webhook.send(AlertEvent(event, alert))


def institution_key(kind: AlertKind, institution: str) -> str:
    """The key of an institution's alert (for tests and the dashboard)."""
    assert kind in _INSTITUTION_KINDS
    return alert_key(kind, institution)
