"""A swarm of lightweight simulated kiosks for the fleet service's tests and bench: one paho
MQTT v5 client per kiosk with its own device certificate, publishing the real protocol.mqtt
payloads (health, usage, state, reported) on its own topics through the kiosk listener; with
`answer_desired`, each applies the signed desired documents it is sent (signature checked) and
reports the version, as a kiosk does.

No agent, no devices: what a kiosk sends, built with the protocol's own classes."""

from __future__ import annotations

import multiprocessing
import os
import ssl
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as Synchronized
from pathlib import Path

import paho.mqtt.client as paho
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from common.tls import client_context, load_token_provider
from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.device_token import device_token
from kiosk_sim.pki import Issued, Pki
from protocol.mqtt import (
    Channel,
    DeviceStatus,
    HealthMessage,
    Presence,
    ReportedMessage,
    StateMessage,
    UsageMessage,
    encode,
    topic,
)
from protocol.outcomes import Outcome
from protocol.signed import DesiredState, SignedDocumentError, verify_document


def health_message(seq: int, ts: int, **changes: object) -> HealthMessage:
    """A kiosk in good order (fields overridden by `changes`)."""
    fields: dict[str, object] = {
        "seq": seq,
        "ts": ts,
        "reader": DeviceStatus.OK,
        "sam": DeviceStatus.OK,
        "sensor": DeviceStatus.OK,
        "tamper": False,
        "deactivated": False,
        "gateway_reachable": True,
        "gateway_rtt_ms": 12.5,
        "cert_days_left": 300,
        "cpu_temp_c": 48.5,
        "mem_used_pct": 31.0,
        "disk_free_pct": 72.5,
        "uptime_s": 3600 + seq,
        "agent": "sim-1.0",
    }
    fields.update(changes)
    return HealthMessage(**fields)  # type: ignore[arg-type]


def usage_message(seq: int, day: str, counts: Mapping[Outcome, int]) -> UsageMessage:
    """A day's cumulative sessions per outcome."""
    return UsageMessage(seq, day, 7, dict(counts))


@dataclass
class SwarmKiosk:
    """One simulated kiosk's MQTT connection (client id = CN = device id)."""

    device: str
    issued: Issued
    client: paho.Client
    connected: threading.Event = field(default_factory=threading.Event)
    health_seq: int = 0
    usage_seq: int = 0
    applied_version: int = 0

    def publish(
        self, channel: Channel, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        """Publish on one of its own topics (returns paho's info: wait_for_publish())."""
        info = self.client.publish(topic(self.device, channel), payload, qos=qos, retain=retain)
        queued = qos > 0 and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN  # sent on reconnection
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS and not queued:
            raise RuntimeError(f"{self.device}: publish failed: {paho.error_string(info.rc)}")
        return info

    def health(self, ts: int, *, qos: int = 1, **changes: object) -> paho.MQTTMessageInfo:
        """The next health report."""
        self.health_seq += 1
        msg = health_message(self.health_seq, ts, **changes)
        return self.publish(Channel.HEALTH, encode(msg.to_json()), qos=qos)

    def usage(self, day: str, counts: Mapping[Outcome, int]) -> paho.MQTTMessageInfo:
        """The next cumulative usage of `day`."""
        self.usage_seq += 1
        msg = usage_message(self.usage_seq, day, counts)
        return self.publish(Channel.USAGE, encode(msg.to_json()))

    def state(self, status: Presence, conn: str, ts: int) -> paho.MQTTMessageInfo:
        """Its presence (retained)."""
        msg = StateMessage(status, conn, ts, agent="sim-1.0" if status is Presence.ONLINE else "")
        return self.publish(Channel.STATE, encode(msg.to_json()), retain=True)

    def reported(
        self, version: int, deactivated: bool, ts: int, *, tampered: bool = False
    ) -> paho.MQTTMessageInfo:
        """What it applied (retained)."""
        msg = ReportedMessage(version, deactivated, (), tampered, ts)
        return self.publish(Channel.REPORTED, encode(msg.to_json()), retain=True)

    def answer_desired(self, keys: Mapping[str, Ed25519PublicKey], timeout: float = 10.0) -> None:
        """From now on apply each signed desired document above the version applied and report
        it (retained), as a kiosk does; returns once subscribed."""
        subscribed = threading.Event()
        wanted = topic(self.device, Channel.DESIRED)

        def on_message(c: paho.Client, u: object, msg: paho.MQTTMessage) -> None:
            if not msg.payload:
                return
            try:
                body = verify_document(bytes(msg.payload), keys).body
            except SignedDocumentError:
                return  # a kiosk refuses it (and says so in its log)
            if not isinstance(body, DesiredState) or body.version <= self.applied_version:
                return
            self.applied_version = body.version
            report = ReportedMessage(
                body.version,
                body.deactivated,
                tuple(s.value for s in body.sanctions),
                False,
                int(time.time()),
            )
            self.publish(Channel.REPORTED, encode(report.to_json()), retain=True)

        self.client.message_callback_add(wanted, on_message)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.subscribe(wanted, qos=1)
        if not subscribed.wait(timeout):
            raise RuntimeError(f"{self.device}: not subscribed to {wanted} within {timeout:g} s")

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def start_kiosk(
    broker: MosquittoBroker, pki: Pki, issued: Issued, *, timeout: float = 10.0
) -> SwarmKiosk:
    """Connect one kiosk (its network thread started); RuntimeError if it cannot."""
    return _connect(broker.host, broker.port, pki.client_context(issued), issued, timeout)


def _connect(
    host: str, port: int, ctx: ssl.SSLContext, issued: Issued, timeout: float = 10.0
) -> SwarmKiosk:
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=issued.name,
        protocol=paho.MQTTv5,
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)  # no limit: what is published while away waits
    client.reconnect_delay_set(0.1, 1)  # type: ignore[arg-type]
    client.tls_set_context(ctx)
    kiosk = SwarmKiosk(issued.name, issued, client)

    def connected(c: object, u: object, f: object, rc: ReasonCode, p: object) -> None:
        if not rc.is_failure:
            kiosk.connected.set()

    client.on_connect = connected
    client.connect(host, port, keepalive=60)
    client.loop_start()
    if not kiosk.connected.wait(timeout):
        kiosk.stop()
        raise RuntimeError(f"{issued.name}: not connected within {timeout:g} s")
    return kiosk


def start_swarm(
    broker: MosquittoBroker,
    pki: Pki,
    count: int,
    *,
    prefix: str = "KIOSK-SW",
    institution: str = "perpus-sim",
) -> list[SwarmKiosk]:
    """`count` kiosks, each with its own new certificate, connected."""
    kiosks = []
    try:
        for i in range(1, count + 1):
            issued = pki.issue_device(f"{prefix}-{i:05d}", institution)
            kiosks.append(start_kiosk(broker, pki, issued))
    except BaseException:
        for k in kiosks:
            k.stop()
        raise
    return kiosks


KIOSKS_PER_PROCESS = 250
"""paho's network loop uses select(): about three descriptors per client must stay below 1,024."""


def _answer_in_process(
    where: tuple[str, int, Path, dict[str, str]],
    issued: Sequence[Issued],
    keys: Mapping[str, bytes],
    ready: Synchronized,
    stop: Synchronized,
) -> None:
    """A spawned process (PKCS#11 state does not survive a fork): the kiosks' keys are in the
    devices token, read through pkcs11-provider with `where`'s SoftHSM and OpenSSL settings
    (this process's environment may name another SoftHSM by now)."""
    host, port, ca_file, env = where
    os.environ.update(env)
    load_token_provider(Path(env["OPENSSL_CONF"]))
    public = {kid: Ed25519PublicKey.from_public_bytes(raw) for kid, raw in keys.items()}
    kiosks = [_connect(host, port, client_context(ca_file, i.cert, i.key), i) for i in issued]
    try:
        for k in kiosks:
            k.answer_desired(public)
        ready.set()
        stop.wait()
    finally:
        for k in kiosks:
            k.stop()


@contextmanager
def answering_swarm(
    broker: MosquittoBroker,
    pki: Pki,
    devices: Sequence[str],
    keys: Mapping[str, Ed25519PublicKey],
    *,
    institution: str = "perpus-sim",
    timeout: float = 60.0,
) -> Iterator[None]:
    """These kiosks connected and applying the documents signed by `keys`, spread over spawned
    processes of at most KIOSKS_PER_PROCESS kiosks; yields once every one is subscribed."""
    issued = [pki.issue_device(device, institution) for device in devices]
    where = (broker.host, broker.port, pki.server_ca.cert, device_token().env())
    raw = {kid: key.public_bytes_raw() for kid, key in keys.items()}
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    workers = []
    try:
        for i in range(0, len(issued), KIOSKS_PER_PROCESS):
            ready = spawn.Event()
            chunk = issued[i : i + KIOSKS_PER_PROCESS]
            args = (where, chunk, raw, ready, stop)
            worker = spawn.Process(target=_answer_in_process, args=args, daemon=True)
            worker.start()
            workers.append((worker, ready))
        for worker, ready in workers:
            if not ready.wait(timeout):
                raise RuntimeError(f"swarm process {worker.pid}: kiosks not ready in {timeout:g} s")
        yield
    finally:
        stop.set()
        for worker, _ in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
