"""The fleet service as one object (start, stop, its parts) and as a process (`serve`: core
dumps off, SIGTERM stops it cleanly).

One asyncio loop; paho's network thread and the store's thread enter it only through
`loop.call_soon_threadsafe`; every background task is owned and cancelled at stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from common.clock import Clock, SystemClock
from common.errors import TlsFileError
from common.hardening import disable_core_dumps
from common.tls import client_context
from fleet.ca.publish import Published, publish
from fleet.ca.revocation import current_crls
from fleet.ca.server import DeviceCa, EstRunner, open_ca, serve_est
from fleet.config import FleetConfig
from fleet.dashboard import DashboardRunner
from fleet.errors import FleetError
from fleet.gateway import GatewayAdmin
from fleet.service.alerting import AlertEngine
from fleet.service.gateway_poll import GatewayPoller
from fleet.service.ingest import IngestClient
from fleet.service.web import build_app, serve_web
from fleet.service.webhook import Webhook
from fleet.service.worker import StoreWorker
from fleet.store import StoreError, open_store
from fleet.store.base import Alert, AlertKind, DeviceState, FleetStore, Ingest

_log = logging.getLogger(__name__)
DAY_S = 86400


def _broker_context(config: FleetConfig) -> ssl.SSLContext:
    s, tls = config.service.service, config.broker.tls
    cert = s.cert_file or tls.cert_file
    key = s.key_file or tls.key_file
    try:
        return client_context(tls.ca_file, cert, key)
    except TlsFileError as err:
        raise FleetError(f"the service's TLS files for the broker: {err}") from err


def _prune(store: FleetStore, *, before: int) -> int:
    return store.prune_health(before)


class FleetService:
    """Ingest, alerts, webhook and dashboard of one replica."""

    def __init__(
        self,
        config: FleetConfig,
        *,
        clock: Clock | None = None,
        before_commit: Callable[[Sequence[Ingest]], None] | None = None,
        webhook_backoff_s: float = 1.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        sections = config.service
        self.worker = StoreWorker(
            lambda: open_store(config.store),
            batch_size=sections.service.batch_size,
            batch_s=sections.service.batch_ms / 1000.0,
            on_committed=self._committed,
            before_commit=before_commit,
        )
        self.webhook = (
            None
            if sections.webhook is None
            else Webhook(
                sections.webhook,
                self._record_delivery,
                self.clock,
                backoff_s=webhook_backoff_s,
            )
        )
        self.gateway = (
            None
            if config.gateway is None
            else GatewayPoller(
                GatewayAdmin(config.gateway.url, config.gateway.tls.context(), timeout=10.0)
            )
        )
        self.alerts = AlertEngine(
            self.worker.call,
            sections.alerts,
            self.clock,
            webhook=self.webhook,
            gateway=self.gateway,
            on_raised=self._alert_raised,
        )
        self.ingest = IngestClient(
            host=config.broker.host,
            port=config.broker.port,
            ssl_context=_broker_context(config),
            settings=sections.service,
            worker=self.worker,
            clock=self.clock,
            on_desired=self._desired,
            on_connection=self._connection,
            reconnect_min=reconnect_min,
            reconnect_max=reconnect_max,
        )
        self.web: DashboardRunner | None = None  # listening once the store is open
        self.ca: DeviceCa | None = None  # [ca] opened when [est] is configured
        self.est: EstRunner | None = None
        self.store: FleetStore | None = None  # used only in the worker's thread (an Executor)
        # set after each committed batch and each connection change (tests await it)
        self.changed = asyncio.Event()
        self.crl_published = asyncio.Event()  # set after each CRL publication (tests await it)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._started = False

    @property
    def stats(self) -> Any:
        """This replica's ingest counts (IngestStats)."""
        return self.worker.stats

    def health(self) -> dict[str, Any]:
        """/healthz: connected, and what this replica ingested (counts only)."""
        st = self.worker.stats
        return {
            "status": "ok" if self.ingest.subscribed.is_set() else "connecting",
            "client_id": self.config.service.service.client_id,
            "backend": self.worker.backend,
            "received": st.received,
            "stored": st.stored,
            "duplicates": st.duplicates,
            "malformed": st.malformed,
            "alert_sweeps": self.alerts.sweeps,
        }

    # --- threads into the loop --------------------------------------------------------------

    def _committed(self, batch: Sequence[Ingest]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_batch, batch)

    def _on_batch(self, batch: Sequence[Ingest]) -> None:
        self.alerts.ingested(batch)
        self.changed.set()

    def _connection(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.changed.set)

    def _desired(self, topic: str, raw: bytes) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.alerts.desired_received, topic, raw)

    async def _alert_raised(self, alert: Alert) -> None:
        """A tamper alert this replica raised: the kiosk's certificates are revoked at once."""
        if alert.kind is not AlertKind.TAMPER or self.ca is None:
            return
        issuer = self.ca.issuer

        def revoke(store: FleetStore) -> list[str]:
            store.set_device_state(alert.target, DeviceState.TAMPERED)
            return issuer.revoke_device(store, alert.target, "tamper")

        try:
            serials = await self.worker.call(revoke)
        except (StoreError, FleetError) as err:
            _log.error("tamper at %s: its certificates could not be revoked: %s", alert.target, err)
            return
        if serials:
            _log.warning("tamper at %s: certificates %s revoked", alert.target, ", ".join(serials))
            await self.publish_crls()

    async def publish_crls(self) -> Published | None:
        """New CRLs from the store, to the files, the broker and the gateway."""
        ca = self.ca
        if ca is None:
            return None
        try:
            device, admin = await self.worker.call(partial(current_crls, ca=ca))
        except (StoreError, FleetError) as err:
            _log.error("no new CRL: %s", err)
            return None
        out = await asyncio.to_thread(publish, self.config, device, admin)
        self.crl_published.set()
        return out

    async def _record_delivery(self, key: str, raised_at: int, error: str | None) -> None:
        await self.worker.call(lambda store: store.record_delivery(key, raised_at, error))

    # --- lifetime ---------------------------------------------------------------------------

    async def start(self) -> FleetService:
        """Open the store, connect and subscribe, start the alerts, the webhook and the web."""
        self._loop = asyncio.get_running_loop()
        try:
            store = self.store = await asyncio.to_thread(self.worker.start)
        except StoreError as err:
            raise FleetError(f"cannot open the {self.config.store.backend} store: {err}") from err
        self._started = True
        dashboard = self.config.service.dashboard
        try:
            if self.webhook is not None:
                self.webhook.start()
            if dashboard is not None:
                app = build_app(store, self.worker, self.clock, self.health)
                self.web = await serve_web(dashboard, app)
            if self.config.ca is not None:
                self.ca = await asyncio.to_thread(open_ca, self.config, wall=self.clock.time)
            if self.config.est is not None and self.ca is not None:
                self.est = await serve_est(
                    self.config, self.ca, self.worker.call, published=self.publish_crls
                )
            self.ingest.start()
            self._timer = asyncio.create_task(self.alerts.run(), name="fleet-alerts")
            self._pruner = asyncio.create_task(self._prune_daily(), name="fleet-prune")
        except BaseException:
            await self.stop()
            raise
        return self

    async def wait_subscribed(self, timeout: float) -> None:
        """Return once subscribed at the broker (FleetError after `timeout`)."""
        ok = await asyncio.to_thread(self.ingest.subscribed.wait, timeout)
        if not ok:
            b = self.config.broker
            raise FleetError(f"the broker {b.host}:{b.port} did not accept the service in time")

    async def stop(self) -> None:
        """Disconnect, write what was received, stop the tasks and the web; safe twice."""
        if not self._started:
            return
        self._started = False
        with contextlib.suppress(Exception):  # write and acknowledge what came, still connected
            await asyncio.wait_for(self.worker.call(lambda store: None), 30.0)
        await asyncio.to_thread(self.ingest.stop)
        await self._stop_tasks()
        await asyncio.to_thread(self.worker.stop)

    async def retire(self, idle_s: float = 2.0, timeout: float = 600.0) -> int:
        """Leave the group, store what the session holds (until nothing came for `idle_s`),
        then end the session at the broker and stop; the messages this replica received."""
        await self.wait_subscribed(30.0)
        self.ingest.leave_group()
        if not await asyncio.to_thread(self.ingest.left.wait, 30.0):
            raise FleetError("the broker did not confirm leaving the group")
        async with asyncio.timeout(timeout):
            while (left := idle_s - (self.clock.monotonic() - self.ingest.last_message)) > 0:
                await self.clock.sleep(left)  # until nothing came for idle_s
        await self.worker.call(lambda store: None)  # everything received written and acked
        self._started = False
        await asyncio.to_thread(self.ingest.stop, end_session=True)
        await self._stop_tasks()
        await asyncio.to_thread(self.worker.stop)
        return int(self.worker.stats.received)

    async def abort(self) -> None:
        """Stop as a crash would: nothing pending written or acknowledged (tests)."""
        if not self._started:
            return
        self._started = False
        self.worker.abandon_soon()
        await asyncio.to_thread(self.ingest.stop)
        await self._stop_tasks()
        await asyncio.to_thread(self.worker.abandon)

    async def _prune_daily(self) -> None:
        """Health reports older than [service] health_days go, each kiosk's latest stays."""
        keep = self.config.service.service.health_days * DAY_S
        while True:
            before = int(self.clock.time()) - keep
            try:
                gone = await self.worker.call(partial(_prune, before=before))
                _log.info("pruned %d health reports older than %d days", gone, keep // DAY_S)
            except (StoreError, NotImplementedError) as err:
                _log.warning("pruning health reports: %s", err)
            self.changed.set()
            await self.clock.sleep(DAY_S)

    async def _stop_tasks(self) -> None:
        for task in (self._timer, self._pruner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._timer = self._pruner = None
        await self.alerts.stop()
        if self.webhook is not None:
            await self.webhook.stop()
        if self.gateway is not None:
            await self.gateway.close()
        if self.web is not None:
            await self.web.close()
            self.web = None
        if self.est is not None:
            await self.est.close()
            self.est = None
        if self.ca is not None:
            await asyncio.to_thread(self.ca.close)
            self.ca = None

    async def __aenter__(self) -> FleetService:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def retire(config: FleetConfig) -> int:
    """`serve --retire`: drain this replica's session and end it; the messages stored."""
    disable_core_dumps()
    service = FleetService(config)
    await service.start()
    try:
        return await service.retire()
    finally:
        await service.stop()


async def serve(config: FleetConfig, *, ready: Callable[[FleetService], None]) -> int:
    """Run the service until SIGTERM or SIGINT; `ready` is called once it is subscribed."""
    if not disable_core_dumps():
        _log.warning("core dumps could not be fully disabled")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service = FleetService(config)
    await service.start()
    try:
        waiter = asyncio.ensure_future(asyncio.to_thread(service.ingest.subscribed.wait))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            ready(service)
        await stopper
        # the subscribed.wait thread may still block: a stop releases it
        service.ingest.subscribed.set()
        await waiter
    finally:
        await service.stop()
    _log.info("fleet service stopped")
    return 0
