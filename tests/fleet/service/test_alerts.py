"""Each alert kind raised once and cleared, delivered to a webhook (a small aiohttp server
standing in for the admins' alert endpoint), with a failing-then-working receiver proving the
retries and the failures visible in `kiosk-fleet alerts`; a tamper alert within 2 s."""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from common.clock import local_day
from fleet.service import cli as service_cli
from fleet.store.base import AlertKind, DeviceEntry
from gateway.server import RunningGateway
from kiosk_sim.alert_inbox import AlertInbox
from kiosk_sim.broker import MosquittoBroker
from protocol.mqtt import DeviceStatus
from protocol.signed import DesiredState, KioskState, Sanction, sign_document
from tests.clock import FakeClock
from tests.fleet.service.helpers import (
    WAIT,
    kiosks,
    published,
    service_config,
    start_service,
)
from tests.mqtt.fixtures import Certs
from tests.remote.keys import ADMIN
from tests.waiting import until


@pytest.fixture
async def receiver() -> AsyncIterator[AlertInbox]:
    """The admins' webhook."""
    r = await AlertInbox().start()
    yield r
    await r.stop()


async def test_tamper_within_2_s_and_a_fault_delivered_after_failed_attempts(
    tmp_path: Path,
    broker: MosquittoBroker,
    certs: Certs,
    receiver: AlertInbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock(wall=time.time())
    config = service_config(tmp_path, broker, certs, webhook={"url": receiver.url})
    service = await start_service(config, clock=clock)
    (kiosk,) = await kiosks(broker, certs, 1, "KIOSK-T")
    key = f"tamper:{kiosk.device}"
    try:
        started = time.monotonic()
        await published([kiosk.health(int(clock.time()), tamper=True)])
        raised = await receiver.wait("raised", key)
        assert time.monotonic() - started < 2.0
        assert raised["kind"] == "tamper" and raised["target"] == kiosk.device
        await published([kiosk.health(int(clock.time()), tamper=False)])
        await receiver.wait("cleared", key)

        # the receiver fails twice: the service retries after 1 s, then 2 s (its clock)
        receiver.fail_next = 2
        fault = f"device_fault:{kiosk.device}"
        await published([kiosk.health(int(clock.time()), reader=DeviceStatus.FAULT)])
        await clock.wait_sleeping(1.0)
        clock.advance(1.0)
        await clock.wait_sleeping(2.0)
        clock.advance(2.0)
        body = await receiver.wait("raised", fault)
        assert "reader fault" in body["detail"]
        assert receiver.attempts == 5  # tamper raised and cleared, 2 failures, 1 success
        assert service.webhook is not None
        await service.webhook.idle()
        service_cli.run(argparse.Namespace(command="alerts", all=True, json=True), config)
        shown = {a["key"]: a for a in json.loads(capsys.readouterr().out)}
        assert shown[fault]["delivery_failures"] == 2
        assert shown[fault]["deliveries"] == 1
        assert shown[fault]["last_delivery_error"] == "HTTP 503"
        assert shown[key]["cleared_at"] is not None and shown[key]["deliveries"] == 2
        service_cli.run(argparse.Namespace(command="alerts", all=False, json=False), config)
        table = capsys.readouterr().out
        assert "device_fault" in table and "1 ok, 2 failed (HTTP 503)" in table
        assert "tamper" not in table  # cleared: not listed without --all

        await published([kiosk.health(int(clock.time()))])
        await receiver.wait("cleared", fault)
    finally:
        kiosk.stop()
        await service.stop()


def publish_desired(
    broker: MosquittoBroker, certs: Certs, device: str, version: int, at: int
) -> None:
    """The admin's signed, retained desired state (deactivated) of a kiosk."""
    doc = DesiredState(
        device, version, KioskState.DEACTIVATED, "test", (Sanction.READER_DEACTIVATED,), at, "t"
    )
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-admin", protocol=paho.MQTTv5)
    client.tls_set_context(certs.pki.client_context(certs.admin))
    client.connect(broker.host, broker.admin_port)
    client.loop_start()
    try:
        info = client.publish(
            f"kiosk/v1/{device}/desired", sign_document(doc, ADMIN), qos=1, retain=True
        )
        info.wait_for_publish(WAIT)
    finally:
        client.disconnect()
        client.loop_stop()


async def test_lost_certificate_and_deactivation_pending_raised_and_cleared(
    tmp_path: Path, broker: MosquittoBroker, certs: Certs, receiver: AlertInbox
) -> None:
    clock = FakeClock(wall=time.time())
    config = service_config(
        tmp_path,
        broker,
        certs,
        webhook={"url": receiver.url},
        alerts={"interval": 3600.0, "lost_after_min": 15, "cert_days": 14},
    )
    service = await start_service(config, clock=clock)
    (kiosk,) = await kiosks(broker, certs, 1, "KIOSK-L")
    dev = kiosk.device
    try:
        now = int(clock.time())
        await published([kiosk.health(now, cert_days_left=5), kiosk.reported(99, False, now)])
        await asyncio.to_thread(publish_desired, broker, certs, dev, 100, now)
        async with asyncio.timeout(WAIT):
            while dev not in service.alerts.desired or service.stats.received < 2:
                service.alerts.changed.clear()
                await service.alerts.changed.wait()
        await service.alerts.sweep()
        await receiver.wait("raised", f"cert_expiring:{dev}")
        assert not receiver.has("raised", f"lost:{dev}")
        assert not receiver.has("raised", f"deactivation_pending:{dev}")

        clock.advance(16 * 60)
        await service.alerts.sweep()
        await receiver.wait("raised", f"lost:{dev}")
        await receiver.wait("raised", f"deactivation_pending:{dev}")

        now = int(clock.time())
        await published([kiosk.health(now), kiosk.reported(100, True, now)])
        async with asyncio.timeout(WAIT):
            while service.stats.received < 4:
                service.changed.clear()
                await service.changed.wait()
        await service.alerts.sweep()
        for kind in ("lost", "cert_expiring", "deactivation_pending"):
            await receiver.wait("cleared", f"{kind}:{dev}")
        raised = [e["key"] for e in receiver.events if e["event"] == "raised"]
        assert sorted(raised) == sorted(set(raised))  # each raised once
    finally:
        kiosk.stop()
        await service.stop()


async def test_quota_and_scraping_from_the_real_gateway(
    tmp_path: Path,
    broker: MosquittoBroker,
    certs: Certs,
    receiver: AlertInbox,
    gateway: RunningGateway,
) -> None:
    config = service_config(
        tmp_path,
        broker,
        certs,
        webhook={"url": receiver.url},
        gateway={"url": f"https://127.0.0.1:{gateway.port}"},
        alerts={"interval": 3600.0, "quota_ratio": 0.9, "scraping_jump": 50},
    )
    service = await start_service(config)
    entry = DeviceEntry("KIOSK-Q-00001", "perpus-a", "33")
    await service.worker.call(lambda store: store.put_device(entry))
    day = local_day(time.time(), 7)
    try:
        await service.alerts.sweep()  # the baseline of the refusals
        for _ in range(180):
            assert await gateway.store.take_quota("perpus-a", day, 200)
        await gateway.store.add_usage({("perpus-a", day, "PATTERN_BLOCKED"): 60})
        await service.alerts.sweep()
        quota = await receiver.wait("raised", "quota_nearly_used:perpus-a")
        assert "180" in quota["detail"] and "200" in quota["detail"]
        await receiver.wait("raised", "scraping:perpus-a")

        for _ in range(100):
            await gateway.store.give_back_quota("perpus-a", day)
        await service.alerts.sweep()  # 80 of 200 used, and no new refusals
        await receiver.wait("cleared", "quota_nearly_used:perpus-a")
        await receiver.wait("cleared", "scraping:perpus-a")
        # (a semester report reminder depends on today's date: not this test's business)
        kinds = {e["kind"] for e in receiver.events} - {AlertKind.REPORT_DUE.value}
        assert kinds == {AlertKind.QUOTA_NEARLY_USED.value, AlertKind.SCRAPING.value}
    finally:
        await service.stop()


async def test_an_https_webhook_trusts_only_its_ca_file(
    tmp_path: Path, broker: MosquittoBroker, certs: Certs
) -> None:
    server = certs.pki.issue_server("alerts-hook", ("127.0.0.1",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.cert, server.key)
    receiver = await AlertInbox().start(context)
    trusting = service_config(
        tmp_path,
        broker,
        certs,
        client_id="fleet-https",
        webhook={"url": receiver.url, "ca_file": str(certs.pki.server_ca.cert)},
    )
    foreign = certs.pki.foreign_ca.cert
    wrong = service_config(
        tmp_path / "wrong",
        broker,
        certs,
        client_id="fleet-https-wrong",
        service={"group": "other"},  # it gets every message too
        webhook={"url": receiver.url, "ca_file": str(foreign), "max_attempts": 1},
    )
    a = await start_service(trusting)
    b = await start_service(wrong)
    (kiosk,) = await kiosks(broker, certs, 1, "KIOSK-S")
    try:
        await published([kiosk.health(int(time.time()), tamper=True)])
        await receiver.wait("raised", f"tamper:{kiosk.device}")
        hook = b.webhook
        assert hook is not None
        await until(lambda: hook.given_up == 1, hook.changed)
        assert receiver.attempts == 1  # only the replica that trusts the hook's CA got through
        alerts = await b.worker.call(lambda store: store.alerts())
        assert alerts[0].delivery_failures == 1
        assert alerts[0].last_delivery_error == "ClientConnectorCertificateError"
    finally:
        kiosk.stop()
        await a.stop()
        await b.stop()
        await receiver.stop()
