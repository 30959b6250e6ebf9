"""The self-test's checks of the kiosk's links with its new certificate: the gateway's health
route (and its clock), and a round trip through the broker (CONNECT/CONNACK, SUBSCRIBE/SUBACK
on the kiosk's own desired-state topic, which its ACL allows)."""

from __future__ import annotations

import email.utils
import ssl
import threading
import time

import aiohttp
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.config import AgentConfig
from protocol.mqtt.topics import Channel, topic
from provisioning.errors import SelfTestError

HEALTH = "/v1/health"


async def gateway_health(config: AgentConfig, ctx: ssl.SSLContext) -> float:
    """GET the gateway's health with the kiosk's certificate; the gateway's clock minus ours."""
    url = config.gateway.url.rstrip("/") + HEALTH
    try:
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ctx),
                timeout=aiohttp.ClientTimeout(total=config.gateway.request_timeout),
            ) as http,
            http.get(url) as resp,
        ):
            status, date = resp.status, resp.headers.get("Date")
            mine = time.time()
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        raise SelfTestError(
            "GATEWAY_UNREACHABLE",
            f"Gateway {config.gateway.url} tidak dapat dihubungi dengan sertifikat baru"
            f" ({type(err).__name__}): periksa jaringan tertutup dan [gateway] url, lalu ulangi.",
            f"The gateway {config.gateway.url} cannot be reached with the new certificate"
            f" ({type(err).__name__}): check the closed network and [gateway] url, then run"
            " again.",
            retry=True,
        ) from err
    if status != 200:
        raise SelfTestError(
            "GATEWAY_REFUSED",
            f"Gateway menjawab {status} pada pemeriksaan kesehatan: periksa bahwa kios ini"
            " terdaftar di gateway (perangkat yang diikat).",
            f"The gateway answered {status} to the health check: check this kiosk is known to"
            " the gateway (its bound hardware).",
            retry=status >= 500,
        )
    parsed = email.utils.parsedate_to_datetime(date) if date else None
    return 0.0 if parsed is None else parsed.timestamp() + 0.5 - mine


def broker_round_trip(config: AgentConfig, ctx: ssl.SSLContext, timeout: float = 10.0) -> float:
    """Connect to the broker with the kiosk's certificate and subscribe to its desired state;
    the round trip in milliseconds (SelfTestError when refused or unreachable)."""
    m = config.mqtt
    assert m is not None
    done = threading.Event()
    outcome: dict[str, object] = {}
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{config.device.id}-selftest",
        protocol=paho.MQTTv5,
        reconnect_on_failure=False,
    )
    client.tls_set_context(ctx)
    start = time.monotonic()

    def connected(c: paho.Client, u: object, flags: object, rc: object, props: object) -> None:
        if getattr(rc, "is_failure", False):
            outcome["error"] = f"CONNACK {rc}"
            done.set()
        else:
            c.subscribe(topic(config.device.id, Channel.DESIRED), qos=1)

    def subscribed(
        c: paho.Client, u: object, mid: int, codes: list[ReasonCode], props: Properties
    ) -> None:
        if any(code.is_failure for code in codes):
            outcome["error"] = f"SUBACK {codes[0]}"
        outcome["ms"] = (time.monotonic() - start) * 1000.0
        done.set()

    client.on_connect = connected
    client.on_subscribe = subscribed
    try:
        client.connect(m.host, m.port, keepalive=30)
        client.loop_start()
        finished = done.wait(timeout)
    except OSError as err:
        outcome["error"] = f"{type(err).__name__}: {err}"
        finished = True
    finally:
        client.loop_stop()
        client.disconnect()
    error = outcome.get("error") if finished else f"no answer within {timeout:.0f} s"
    if error is not None:
        raise SelfTestError(
            "BROKER_ROUND_TRIP",
            f"Broker MQTT {m.host}:{m.port} tidak menyelesaikan perjalanan pulang-pergi ({error}):"
            " periksa jaringan dan ACL broker untuk kios ini, lalu ulangi.",
            f"The MQTT broker {m.host}:{m.port} did not complete a round trip ({error}): check"
            " the network and the broker's ACL for this kiosk, then run again.",
            retry=True,
        )
    return float(outcome["ms"])  # type: ignore[arg-type]
