"""MQTT traffic of one kiosk per hour in steady state, and how long a remote deactivation takes.

    .venv/bin/python -m bench.mqtt_traffic [--verifications-per-hour 30] [--runs 20]

Starts a real mosquitto (TLS, client certificates, the fleet ACL), the real gateway (its admin
API), and the real kiosk agent in-process with idle stand-in devices; the agent's MQTT
connection goes through a byte-counting TCP relay.

1. Bytes per kiosk-hour. Each kind of traffic is measured on the wire (TLS records, both
   directions) and scaled to an hour with the agent's default settings: a keep-alive ping per
   `keepalive` (60 s) while idle (an upper bound: any other traffic resets the timer), a health
   report per `health_interval` (300 s; "on change" reports come on top only when something
   changes), one usage report (QoS 1, with its PUBACK) per verification. The connection set-up
   (TLS handshake, birth, subscriptions, retained messages) is printed apart: once per connection.
2. Deactivation latency: `Fleet.set_state` (what `kiosk-fleet deactivate` runs) from the call to
   the kiosk's `reported`, alternating deactivate and reactivate; and the whole `kiosk-fleet`
   command as a process (interpreter start included), a few times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_agent.config import (
    AdminConfig,
    AgentConfig,
    DeviceConfig,
    GatewayConfig,
    MqttConfig,
    ReaderConfig,
    StateConfig,
    UiConfig,
)
from edge_agent.uplink.connection import Uplink
from edge_agent.wiring.app import Agent
from fleet.actions import Fleet
from fleet.config import load_config
from gateway.config import parse_config as gateway_config
from gateway.server import start_gateway
from hardware.card.reader import CardContents, CardEvent
from kiosk_sim.broker import MosquittoBroker, free_port
from kiosk_sim.fleet_admin import FleetSetup
from kiosk_sim.pki import make_pki
from protocol.messages import MatchEvidence, ReaderIdentity, VerificationResponse
from protocol.outcomes import Outcome

DEVICE = "KIOSK-BENCH-1"
KEEPALIVE = 60
HEALTH_INTERVAL = 300.0
TCP_IP_HEADERS = 52  # IPv4 (20) + TCP with timestamps (32) per segment, for the estimate


class Relay:
    """A TCP relay on loopback that counts bytes and reads (≈ segments) in each direction."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.up = 0  # kiosk -> broker
        self.down = 0
        self.reads = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def total(self) -> int:
        return self.up + self.down

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upward: bool) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    if upward:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                    self.reads += 1
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pump(reader, up_w, True), pump(up_r, writer, False))


class IdleCard:
    """A card reader nobody uses during the bench."""

    def start_monitor(self, callback: Callable[[CardEvent], None]) -> None:
        """No card ever comes."""

    def stop_monitor(self) -> None:
        """Nothing to stop."""

    def read(self) -> CardContents:
        """Never called."""
        raise RuntimeError("no card in the bench")


class NoFinger:
    """Never called."""

    def verify_finger(self, template: bytearray, **_: Any) -> Any:
        """Never called."""
        raise RuntimeError("no finger in the bench")


class NoGateway:
    """Never called."""

    async def verify(
        self,
        request_id: str,
        nik: bytearray,
        match: MatchEvidence,
        reader: ReaderIdentity,
        replay_key: bytearray,
    ) -> VerificationResponse:
        """Never called."""
        return VerificationResponse(request_id, Outcome.SERVICE_UNAVAILABLE)


async def _quiet(relay: Relay, seconds: float) -> int:
    """Bytes on the wire while nothing but the agent's own timers run for `seconds`."""
    before = relay.total()
    await asyncio.sleep(seconds)
    return relay.total() - before


async def _settled(relay: Relay, gap: float = 0.3) -> int:
    """Wait until no byte moved for `gap` seconds; the total then."""
    last = -1
    while relay.total() != last:
        last = relay.total()
        await asyncio.sleep(gap)
    return last


async def measure_traffic(
    folder: Path, broker: MosquittoBroker, setup: FleetSetup, verifications: int
) -> None:
    relay = await Relay(broker.port).start()
    pki = setup
    issued = broker.pki.issue_device(DEVICE, "perpus-a")
    config = AgentConfig(
        device=DeviceConfig(DEVICE),
        reader=ReaderConfig("RDR-B1", "SAM-B1"),
        gateway=GatewayConfig("https://127.0.0.1:9", pki.ca_file, issued.cert, issued.key),
        ui=UiConfig(port=0),
        mqtt=MqttConfig(
            host="127.0.0.1",
            port=relay.port,
            keepalive=2,  # short for the measurement of one ping; scaled to KEEPALIVE below
            health_interval=3600.0,
            probe_interval=3600.0,
        ),
        admin=AdminConfig((setup.public_key,)),
        state=StateConfig(folder / "traffic-state", "31"),
    )
    agent = Agent(
        config, card=IdleCard(), finger=NoFinger(), gateway=NoGateway(), serve_ui=False, env={}
    )
    await agent.start()
    try:
        uplink = agent.uplink
        assert isinstance(uplink, Uplink)
        await uplink.wait_ready(1, 10.0)
        setup_bytes = await _settled(relay)

        ping_window = 10.0
        pings = await _quiet(relay, ping_window)
        per_ping = pings / (ping_window / 2)

        n = 20
        before = await _settled(relay)
        for _ in range(n):
            await uplink.telemetry.publish_health()
        per_health = (await _settled(relay) - before) / n

        before = relay.total()
        counter = agent.counter
        for _ in range(n):
            counter.add(Outcome.FOUND)
            await uplink.telemetry.flush_usage()
        per_usage = (await _settled(relay) - before) / n
        reads_per_usage = 4  # publish + PUBACK, each a TLS record and a TCP ACK (estimate)
    finally:
        await agent.stop()
        await relay.close()

    hour = 3600.0
    rows = [
        ("keep-alive pings (upper bound)", hour / KEEPALIVE, per_ping),
        ("health reports", hour / HEALTH_INTERVAL, per_health),
        (f"usage reports ({verifications} verifications)", float(verifications), per_usage),
    ]
    total = sum(count * size for _, count, size in rows)
    segments = 2 * hour / KEEPALIVE + hour / HEALTH_INTERVAL + verifications * reads_per_usage
    print("\nMQTT bytes per kiosk-hour, steady state (TLS 1.3 records, both directions)")
    print(f"  {'traffic':44} {'per hour':>9} {'bytes each':>11} {'bytes/hour':>11}")
    for name, count, size in rows:
        print(f"  {name:44} {count:9.0f} {size:11.0f} {count * size:11.0f}")
    print(f"  {'total':44} {'':9} {'':11} {total:11.0f}  ({total / 1024:.1f} KiB; aim < 20 KB)")
    wire = total + segments * TCP_IP_HEADERS
    print(f"  with TCP/IP headers (estimated, ~{segments:.0f} segments): {wire / 1024:.1f} KiB")
    print(f"  connection set-up, once per connection: {setup_bytes} bytes")


async def measure_deactivation(
    folder: Path, broker: MosquittoBroker, setup: FleetSetup, runs: int, cli_runs: int
) -> None:
    secret = folder / "perpus.password"
    secret.write_text("sandi\n")
    pki = broker.pki
    gw = await start_gateway(
        gateway_config(
            {
                "server": {"host": "127.0.0.1", "port": free_port()},
                "tls": {
                    "cert": str(pki.server.cert),
                    "key": str(pki.server.key),
                    "device_ca": str(pki.device_ca.cert),
                    "admin_ca": str(pki.admin_ca.cert),
                },
                "store": {"kind": "sqlite", "path": str(folder / "gateway.sqlite3")},
                "upstream": {"url": "http://127.0.0.1:9"},
                "institutions": {
                    "perpus-a": {
                        "name": "Perpustakaan A",
                        "province": "31",
                        "upstream_user": "PERPUS-A",
                        "upstream_password_file": str(secret),
                        "elements": ["nik"],
                    }
                },
            },
            folder,
        )
    )
    fleet_dir = folder / "fleet-gw"
    with_gateway = FleetSetup.create(fleet_dir, pki, broker, gw.url)
    issued = pki.issue_device(DEVICE + "-D", "perpus-a")
    config = AgentConfig(
        device=DeviceConfig(DEVICE + "-D"),
        reader=ReaderConfig("RDR-B2", "SAM-B2"),
        gateway=GatewayConfig(gw.url, pki.server_ca.cert, issued.cert, issued.key),
        ui=UiConfig(port=0),
        mqtt=MqttConfig(host="127.0.0.1", port=broker.port),
        admin=AdminConfig((with_gateway.public_key,)),
        state=StateConfig(folder / "deactivation-state", "31"),
    )
    agent = Agent(
        config, card=IdleCard(), finger=NoFinger(), gateway=NoGateway(), serve_ui=False, env={}
    )
    await agent.start()
    try:
        assert agent.uplink is not None
        await agent.uplink.wait_ready(1, 10.0)
        fleet = Fleet(load_config(with_gateway.fleet_config))
        times: list[float] = []
        for i in range(runs):
            (change,) = await asyncio.to_thread(
                fleet.set_state_many,
                [DEVICE + "-D"],
                deactivate=i % 2 == 0,
                reason="bench",
                use_gateway=True,
            )
            assert change.gateway in ("revoked", "reinstated")
            times.append(change.elapsed_s)
        assert agent.session.deactivated is (runs % 2 == 1)
        cli: list[float] = []
        for i in range(cli_runs):
            verb = "deactivate" if (runs + i) % 2 == 0 else "reactivate"
            args = [verb, DEVICE + "-D"] + (["--reason", "bench"] if verb == "deactivate" else [])
            t0 = time.perf_counter()
            code, out = await with_gateway.fleet(*args)
            cli.append(time.perf_counter() - t0)
            assert code == 0, out
    finally:
        await agent.stop()
        await gw.close()
    times.sort()
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    print("\nDeactivation: kiosk-fleet (Fleet.set_state) to the kiosk's `reported`, loopback")
    print("  connect, read retained, sign, publish, gateway revoke/reinstate, wait for reported")
    print(
        f"  {len(times)} runs: median {statistics.median(times) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms (aim < 1 s)"
    )
    if cli:
        print(
            f"  the kiosk-fleet process, interpreter start included ({len(cli)} runs): "
            f"median {statistics.median(cli) * 1000:.0f} ms"
        )


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        folder = Path(tmp)
        pki = make_pki(folder / "pki")
        with MosquittoBroker(folder / "broker", pki) as broker:
            setup = FleetSetup.create(folder / "fleet", pki, broker)
            await measure_traffic(folder, broker, setup, args.verifications_per_hour)
            await measure_deactivation(folder, broker, setup, args.runs, args.cli_runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verifications-per-hour", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cli-runs", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the gateway's and agent's security log is loud
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
