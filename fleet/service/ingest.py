"""The service's MQTT v5 connection: shared subscriptions to every kiosk's topics, a persistent
session, manual acknowledgements, reconnection with backoff.

Each replica subscribes to `$share/<group>/kiosk/v1/+/{state,health,usage,reported}` and
`$share/<group>/kiosk/v1/+/cmd/+/ack`: the broker hands each message to one replica of the
group. The session is persistent (clean start off, a session expiry): while a replica is away
the broker queues its messages, and a message it received but did not acknowledge comes again
when it is back. Acknowledgements are manual: the store worker sends them after its commit.

Every replica also reads the retained `desired` of every kiosk (not shared: each needs all of
them for the deactivation-pending alert); those are acknowledged at once and not stored.

While the broker is away paho reconnects with a backoff from `reconnect_min` to
`reconnect_max` seconds; the kiosks' outboxes and the broker's queues hold what is sent
meanwhile.

mosquitto hands a shared message to a group member whose session is away, too: a replica that
stops for good keeps its share queued until its session expires, then the broker drops it. So
a replica is retired with `kiosk-fleet serve --retire`: it leaves the group (no new share), drains
what its session holds, and ends the session (session expiry 0 at DISCONNECT).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from common.clock import Clock
from fleet.service.settings import ServiceSettings
from fleet.service.worker import Delivery, StoreWorker
from protocol.mqtt import Channel, fleet_filter

_log = logging.getLogger(__name__)

STORED_CHANNELS = (Channel.STATE, Channel.HEALTH, Channel.USAGE, Channel.REPORTED, Channel.ACK)
_DESIRED = fleet_filter(Channel.DESIRED)


def shared_filters(group: str) -> list[str]:
    """The shared subscriptions of a replica of `group`."""
    return [f"$share/{group}/{fleet_filter(channel)}" for channel in STORED_CHANNELS]


class IngestClient:
    """paho's client in its own thread, feeding the store worker."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        settings: ServiceSettings,
        worker: StoreWorker,
        clock: Clock,
        on_desired: Callable[[str, bytes], None] | None = None,
        on_connection: Callable[[], None] = lambda: None,
        keepalive: int = 30,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.settings = settings
        self._worker = worker
        self._clock = clock
        self._on_desired = on_desired
        self._on_connection = on_connection
        self._keepalive = keepalive
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.connections = 0  # successful connections so far
        self.left = threading.Event()  # the group was left (retiring)
        self.last_message = clock.monotonic()
        self._retiring = False
        self._unsub_mid: int | None = None
        self._generation = 0
        self._sub_mid: int | None = None
        c = self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        c.tls_set_context(ssl_context)
        # paho's delays are whole seconds in its annotation but work with fractions
        c.reconnect_delay_set(reconnect_min, reconnect_max)  # type: ignore[arg-type]
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.on_unsubscribe = self._on_unsubscribe
        worker.ack = self._ack

    # --- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers)."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry
        # unacknowledged messages the broker may send before it waits: room for whole batches
        props.ReceiveMaximum = min(65535, max(20, 2 * self.settings.batch_size))
        self._client.connect_async(
            self.host,
            self.port,
            keepalive=self._keepalive,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect cleanly and end the network thread; the session stays at the broker
        unless `end_session` (a retired replica)."""
        props = None
        if end_session:
            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0
        self._client.disconnect(properties=props)
        self._client.loop_stop()
        self.connected.clear()

    def leave_group(self) -> None:
        """Unsubscribe from the shared subscriptions (retiring): the broker routes no new
        message here; what the session holds still comes."""
        self._retiring = True
        result, mid = self._client.unsubscribe(shared_filters(self.settings.group))
        if result == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._unsub_mid = mid

    # --- paho's thread ----------------------------------------------------------------------

    def _on_connect(self, c: Any, u: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        if rc.is_failure:
            _log.error(
                "the broker %s:%d refused the service: %s", self.host, self.port, rc.getName()
            )
            return
        self._generation += 1
        self.connections += 1
        _log.info(
            "connected to %s:%d as %s (session present: %s)",
            self.host,
            self.port,
            self.settings.client_id,
            bool(flags.session_present),
        )
        # retain handling 1: retained messages only when the subscription is new
        filters = [] if self._retiring else shared_filters(self.settings.group)
        subs = [(f, SubscribeOptions(qos=1, retainHandling=1)) for f in [*filters, _DESIRED]]
        result, mid = c.subscribe(subs)
        if result == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._sub_mid = mid
        self.connected.set()

    def _on_subscribe(self, c: Any, u: Any, mid: int, codes: list[ReasonCode], p: Any) -> None:
        if mid != self._sub_mid:
            return
        refused = [code.getName() for code in codes if code.is_failure]
        if refused:
            _log.error("the broker refused a subscription of the service: %s", refused[0])
            return
        self.subscribed.set()
        self._on_connection()

    def _on_unsubscribe(self, c: Any, u: Any, mid: int, codes: Any, p: Any) -> None:
        if mid == self._unsub_mid:
            self.left.set()
            self._on_connection()

    def _on_disconnect(self, c: Any, u: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        self._generation += 1  # acks of what the lost connection delivered are dropped
        self.connected.clear()
        self.subscribed.clear()
        self._on_connection()
        if rc.is_failure:
            _log.warning("connection to the broker lost (%s): reconnecting", rc.getName())

    def _on_message(self, c: Any, u: Any, msg: paho.MQTTMessage) -> None:
        self.last_message = self._clock.monotonic()
        topic = msg.topic
        if topic.endswith("/desired"):
            if msg.qos:
                c.ack(msg.mid, msg.qos)
            if self._on_desired is not None:
                self._on_desired(topic, bytes(msg.payload))
            return
        self._worker.deliver(
            Delivery(
                topic,
                bytes(msg.payload),
                msg.mid,
                msg.qos,
                self._generation,
                int(self._clock.time()),
            )
        )

    def _ack(self, mid: int, qos: int, generation: int) -> None:
        """PUBACK after the commit (the worker's thread), only on the connection that delivered."""
        if generation == self._generation:
            self._client.ack(mid, qos)
