"""Gateway relay vs nginx as an mTLS reverse proxy, in front of the same upstream, same machine.

    .venv/bin/python -m bench.gateway_relay [--seconds 4] [--connections 16] [--repeat 3]
                                            [--rate 1500,3000]

Starts the Dukcapil simulator as its own process, then these servers side by side (each its
own process, measured one at a time, rounds interleaved, medians reported):

- kiosk-gateway, started with its CLI (uvloop, SQLite store, access log on);
- nginx from Debian: worker_processes 1, TLS 1.3, client certificates, keep-alive upstream pool,
  buffered access log, stateful session cache;
- for reference, the aiohttp floor: an aiohttp server on uvloop that only relays through the
  gateway's pooled upstream client (no policy, no parsing);
- for reference, a plain aiohttp relay: aiohttp server and aiohttp client on the default loop.

The load generator here speaks HTTP/1.1 over TLS 1.3 with a client certificate and keep-alive
(wrk has no client certificates). Printed: throughput, p50/p99 latency added over calling the
upstream directly (one connection, sequential), server CPU per request (utime + stime from
/proc, every thread of the server's processes) and its ratio to nginx's, and the TLS bytes on the
wire for one verification on an established connection.

CPU per request depends on the load, so servers are compared at the same offered loads
(`--rate`, requests per second paced over the same connections; several rates, comma-separated),
the highest of them near the gateway's own peak (`--near-peak`, 90% of it by default, found in a
run before the rounds). A server that cannot keep up with a rate is marked. The target (2.5x
nginx's CPU per request, and under 1,300 bytes on the wire for one verification) is judged there,
and the exit status says whether it was met. CPU per request at each server's own peak (the
throughput run) is printed too, but is not a like-for-like comparison: on a machine whose cores
the load generator and the simulator share, the faster server runs at a higher load, where it
also does more work per wake-up. Everything is sampled over established, warm keep-alive
connections: handshakes are not counted.

Every request carries a different NIK, as kiosk traffic does: the gateway keeps anti-scraping
state per NIK prefix in memory, and one NIK sent again and again would hide what that costs. The
NIKs are valid, of real region codes (the personas'), with random birth dates and serials; the
simulator runs with `--generated-population`, so each is FOUND with a full synthetic record. They
come in a seeded random order that uses each 12-digit prefix (region + birth date) once per
470,400 requests, so the gateway's anti-scraping refuses none (it refuses a prefix seen with 5
serials within 10 minutes); every server gets the same sequence. The run fails unless every
answer of the simulator and of the gateway is FOUND.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import uvloop

from gateway.upstream.http11 import ResponseParser
from simulators.personas import PERSONAS
from simulators.pki import Pki, make_pki

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
USER, PASSWORD, INSTITUTION = "BENCH-USER", "bench-password", "bench-inst"
# Region codes (province + regency + district) of the personas: real ones the gateway accepts.
REGIONS = sorted({p.nik[:6] for p in PERSONAS.values()})
NIK_SEED = 1945
CLK_TCK = os.sysconf("SC_CLK_TCK")
CPU_TARGET = 2.5  # the gateway's CPU per request, at most this many times nginx's
WIRE_TARGET = 1300  # bytes of one verification on an established connection, both ways
ELEMENTS = [
    "no_kk",
    "nik",
    "nama_lengkap",
    "alamat",
    "rt",
    "rw",
    "nama_kelurahan",
    "nama_kecamatan",
    "status_kawin",
]


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


@contextlib.contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------- servers


def gateway_config(tmp: Path, pki: Pki, port: int, upstream_port: int) -> Path:
    (tmp / "bench.password").write_text(PASSWORD + "\n")
    cfg = f"""
[server]
host = "127.0.0.1"
port = {port}

[tls]
cert = "{pki.server.cert}"
key = "{pki.server.key}"
device_ca = "{pki.device_ca.cert}"
admin_ca = "{pki.admin_ca.cert}"

[store]
kind = "sqlite"
path = "{tmp}/gateway-state/gateway.sqlite3"

[upstream]
url = "http://127.0.0.1:{upstream_port}"
connections = 64

[antiscrape]
burst_limit = 0
device_burst_limit = 0

[logging]
access = "{tmp}/gateway-logs/access.log"
main = "{tmp}/gateway-logs/gateway.log"

[institutions.{INSTITUTION}]
province = "33"
upstream_user = "{USER}"
upstream_password_file = "bench.password"
elements = {json.dumps(ELEMENTS)}
poc_approved = true
"""
    path = tmp / "gateway.toml"
    path.write_text(cfg)
    return path


def nginx_config(tmp: Path, pki: Pki, port: int, upstream_port: int, token: str) -> Path:
    base = tmp / "nginx"
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (base / d).mkdir(parents=True, exist_ok=True)
    cfg = f"""
user root;
worker_processes 1;
daemon off;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {base}/access.log combined buffer=64k flush=1s;
    client_body_temp_path {base}/client_body;
    proxy_temp_path {base}/proxy;
    fastcgi_temp_path {base}/fastcgi;
    uwsgi_temp_path {base}/uwsgi;
    scgi_temp_path {base}/scgi;
    client_max_body_size 16k;
    keepalive_requests 1000000;
    server_tokens off;
    upstream dukcapil {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {pki.server.cert};
        ssl_certificate_key {pki.server.key};
        ssl_client_certificate {pki.device_ca.cert};
        ssl_verify_client on;
        ssl_protocols TLSv1.3;
        ssl_session_tickets off;
        ssl_session_cache shared:SSL:1m;
        location = /v1/verifications {{
            proxy_pass http://dukcapil/api/v1/nik;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer {token}";
        }}
    }}
}}
"""
    path = base / "nginx.conf"
    path.write_text(cfg)
    return path


# The end of a reference relay's main(): serve `verify` on the port over mTLS, forever.
_SERVE = """
    app = web.Application()
    app.router.add_post("/v1/verifications", verify)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(port), ssl_context=tls(cert, key, ca)).start()
    await asyncio.Event().wait()
"""

_TLS_SETUP = """
def tls(cert, key, ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    return ctx
"""

PLAIN_RELAY = (
    """
import asyncio, ssl, sys
import aiohttp
from aiohttp import web
"""
    + _TLS_SETUP
    + """
port, upstream, cert, key, ca, token = sys.argv[1:7]

async def main():
    session = aiohttp.ClientSession()
    async def verify(request):
        body = await request.read()
        async with session.post(upstream + "/api/v1/nik", data=body,
                headers={"Authorization": "Bearer " + token,
                         "Content-Type": "application/json"}) as resp:
            data = await resp.read()
        return web.Response(body=data, content_type="application/json")
"""
    + _SERVE
    + """
asyncio.run(main())
"""
)

FLOOR_RELAY = (
    """
import asyncio, ssl, sys
import uvloop
from aiohttp import web
from gateway.upstream.pool import HttpPool
"""
    + _TLS_SETUP
    + """
port, upstream, cert, key, ca, token = sys.argv[1:7]

async def main():
    pool = HttpPool(upstream, connections=64, timeout_s=5.0)
    head = pool.head("POST", "/api/v1/nik")
    auth = b"Authorization: Bearer %s\\r\\n" % token.encode()
    async def verify(request):
        status, data = await pool.request(head, auth, await request.read())
        return web.Response(body=data, content_type="application/json")
"""
    + _SERVE
    + """
uvloop.run(main())
"""
)


def login_token(upstream_port: int) -> str:
    req = urllib.request.Request(
        f"http://127.0.0.1:{upstream_port}/api/v1/login",
        data=json.dumps({"user_id": USER, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return str(json.loads(resp.read())["token"])


# ---------------------------------------------------------------- load generator


def nik_stream(seed: int = NIK_SEED) -> Iterator[str]:
    """Valid NIKs in a seeded random order: each 12-digit prefix once per pass, random serials.

    A prefix is a region of REGIONS, a birth day 01-28 (plus 40 for women), a month and a
    two-digit year. Drawing prefixes without replacement keeps the gateway's anti-scraping
    quiet (drawn with replacement, 150,000 requests get a few refused as prefix sweeps); persona
    NIKs are skipped, so the generated population answers every NIK FOUND.
    """
    rng = random.Random(seed)
    personas = {p.nik for p in PERSONAS.values()}
    prefixes = array("l", range(len(REGIONS) * 56 * 12 * 100))
    while True:
        rng.shuffle(prefixes)
        for prefix in prefixes:
            rest, year = divmod(prefix, 100)
            rest, month = divmod(rest, 12)
            region, day = divmod(rest, 56)
            day = day + 1 if day < 28 else day - 28 + 41
            nik = f"{REGIONS[region]}{day:02d}{month + 1:02d}{year:02d}{rng.randint(1, 9999):04d}"
            if nik not in personas:
                yield nik


@dataclass
class Target:
    name: str
    port: int
    tls: ssl.SSLContext | None
    path: str
    extra_headers: bytes = b""
    # Every server gets the same NIKs in the same order, from its own stream.
    niks: Iterator[str] = field(default_factory=nik_stream, repr=False)


_ids = iter(range(1, 1 << 62))


def request_bytes(target: Target) -> bytes:
    """One verification request: the target's next NIK, a fresh request id (no cached replay)."""
    body = json.dumps(
        {
            "request_id": f"{next(_ids):032x}",
            "nik": next(target.niks),
            "match": {"finger": "right_index", "score": 180, "tries": 1},
            "reader": {"reader_id": "RDR-0001", "sam_id": "SAM-0001"},
            "replay_key": base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode(),
        },
        separators=(",", ":"),
    ).encode()
    return b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n%s" % (
        target.path.encode(),
        target.extra_headers,
    ) + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = ResponseParser()
        self.waiter: asyncio.Future[ResponseParser] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        if self.parser.done and self.waiter is not None:
            self.waiter.set_result(self.parser)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))

    async def call(self, data: bytes) -> ResponseParser:
        assert self.transport is not None
        self.parser = ResponseParser()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        parser = await self.waiter
        if parser.status != 200:
            raise RuntimeError(f"HTTP {parser.status}: {parser.body[:200]!r}")
        return parser


async def _connect(target: Target) -> _Conn:
    _, conn = await asyncio.get_running_loop().create_connection(
        _Conn,
        "127.0.0.1",
        target.port,
        ssl=target.tls,
        server_hostname="localhost" if target.tls else None,
    )
    return conn


async def open_connections(target: Target, connections: int) -> list[_Conn]:
    """Keep-alive connections, each handshaken and warmed by one request."""
    conns = [await _connect(target) for _ in range(connections)]
    for c in conns:
        await c.call(request_bytes(target))
    return conns


def close_all(conns: list[_Conn]) -> None:
    for c in conns:
        if c.transport is not None:
            c.transport.close()


async def throughput(target: Target, conns: list[_Conn], seconds: float) -> int:
    """Requests completed over open connections in `seconds`, one in flight on each."""
    stop = time.monotonic() + seconds
    count = 0

    async def worker(conn: _Conn) -> None:
        nonlocal count
        while time.monotonic() < stop:
            await conn.call(request_bytes(target))
            count += 1

    await asyncio.gather(*(worker(c) for c in conns))
    return count


async def paced(target: Target, conns: list[_Conn], seconds: float, rate: float) -> int:
    """Requests completed at `rate` per second, spread evenly over open connections."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.01
    interval = len(conns) / rate
    count = 0

    async def worker(i: int, conn: _Conn) -> None:
        nonlocal count
        due = start + i / rate
        while due <= start + seconds:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await conn.call(request_bytes(target))
            count += 1
            due += interval

    await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
    return count


async def latencies(target: Target, n: int) -> list[float]:
    """Round-trip times of n sequential requests on one warm connection."""
    conn = await _connect(target)
    for _ in range(100):
        await conn.call(request_bytes(target))
    out = []
    for _ in range(n):
        data = request_bytes(target)
        t0 = time.perf_counter()
        await conn.call(data)
        out.append(time.perf_counter() - t0)
    assert conn.transport is not None
    conn.transport.close()
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


# ---------------------------------------------------------------- bytes on the wire


@dataclass
class WireBytes:
    handshake: tuple[int, int]
    first: tuple[int, int]
    steady: tuple[int, int]
    resumed: bool
    resumed_handshake: int


class _CountingTls:
    """A blocking TLS client over MemoryBIOs that counts the TLS bytes it sends and receives."""

    def __init__(self, port: int, ctx: ssl.SSLContext, session: ssl.SSLSession | None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 10)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost", session=session)
        self.sent = 0
        self.received = 0

    def _flush(self) -> None:
        data = self.out.read()
        if data:
            self.sock.sendall(data)
            self.sent += len(data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.received += len(data)
        self.inc.write(data)

    def handshake(self) -> None:
        while True:
            try:
                self.obj.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()

    def call(self, data: bytes) -> None:
        self.obj.write(data)
        self._flush()
        parser = ResponseParser()
        while not parser.done:
            try:
                parser.feed(self.obj.read(65536))
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        self._flush()

    def counters(self) -> tuple[int, int]:
        return self.sent, self.received

    def close(self) -> None:
        """Close like a well-behaved client: send close_notify, wait for the server's."""
        try:
            while True:
                try:
                    self.obj.unwrap()
                    break
                except ssl.SSLWantReadError:
                    self._flush()
                    self._fill()
            self._flush()
        except (ssl.SSLError, ConnectionError):
            pass
        self.sock.close()


def _delta(after: tuple[int, int], before: tuple[int, int]) -> tuple[int, int]:
    return after[0] - before[0], after[1] - before[1]


def measure_wire(target: Target) -> WireBytes:
    """Handshake, first request, then one request on the established connection; resumption."""
    assert target.tls is not None
    c = _CountingTls(target.port, target.tls, None)
    c.handshake()
    hs = c.counters()
    c.call(request_bytes(target))
    first = _delta(c.counters(), hs)
    c.call(request_bytes(target))  # anything late (session tickets) arrives by now
    before = c.counters()
    c.call(request_bytes(target))
    steady = _delta(c.counters(), before)
    session = c.obj.session
    c.close()
    r = _CountingTls(target.port, target.tls, session)
    r.handshake()
    resumed_handshake = sum(r.counters())
    r.call(request_bytes(target))
    resumed = bool(r.obj.session_reused)
    r.close()
    return WireBytes(hs, first, steady, resumed, resumed_handshake)


# ---------------------------------------------------------------- main


@dataclass
class Result:
    name: str
    rps: float
    cpu_us: float  # at the server's peak
    p50_ms: float
    p99_ms: float
    # offered rate → (CPU us per request, requests/s achieved), the same rates for every server
    paced: dict[float, tuple[float, float]] = field(default_factory=dict)
    wire: WireBytes | None = None
    outcomes: Counter[str] | None = None  # of the gateway's answers, from its access log


async def sampled(watched: list[int], run: Awaitable[int]) -> tuple[int, float, float]:
    """The requests `run` completes, its seconds, and the CPU seconds of `watched` meanwhile."""
    cpu0 = cpu_seconds(watched)
    t0 = time.monotonic()
    count = await run
    return count, time.monotonic() - t0, cpu_seconds(watched) - cpu0


async def measure_once(
    target: Target, pids: Callable[[], list[int]] | None, args: argparse.Namespace
) -> Result:
    """One round; CPU and time are sampled over established, warm connections only (no
    handshake is counted as a request's cost)."""
    lat = await latencies(target, args.latency_n)
    watched = pids() if pids else []
    conns = await open_connections(target, args.connections)
    try:
        count, elapsed, cpu = await sampled(watched, throughput(target, conns, args.seconds))
        result = Result(
            target.name, count / elapsed, cpu / count * 1e6, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3
        )
        for rate in args.rate if watched else ():
            run = paced(target, conns, args.seconds, rate)
            count, elapsed, cpu = await sampled(watched, run)
            result.paced[rate] = (cpu / count * 1e6, count / elapsed)
    finally:
        close_all(conns)
    return result


async def peak_rate(target: Target, args: argparse.Namespace) -> float:
    """Requests per second of one throughput run, over warm connections."""
    conns = await open_connections(target, args.connections)
    try:
        count, elapsed, _ = await sampled([], throughput(target, conns, args.seconds))
    finally:
        close_all(conns)
    return count / elapsed


def median_of(results: list[Result]) -> Result:
    return Result(
        results[0].name,
        statistics.median(r.rps for r in results),
        statistics.median(r.cpu_us for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        paced={
            rate: (
                statistics.median(r.paced[rate][0] for r in results),
                statistics.median(r.paced[rate][1] for r in results),
            )
            for rate in results[0].paced
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_relay", description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="throughput run per round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--latency-n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians are reported)")
    parser.add_argument(
        "--rate",
        type=rates,
        default=[1500.0, 3000.0],
        help="offered loads of the paced runs, requests/s, comma-separated (default 1500,3000)",
    )
    parser.add_argument(
        "--near-peak",
        type=fraction,
        default=0.9,
        help="also pace every server at this fraction of the gateway's peak, found in a run"
        " before the rounds (default 0.9; 0: no such rate)",
    )
    parser.add_argument("--no-reference", action="store_true", help="skip the aiohttp relays")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)

    subprocess.run([str(ROOT / "scripts" / "install-debian-packages.sh"), "nginx"], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    try:
        results = run(args, tmp, shutil.which("nginx") or "/usr/sbin/nginx")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if report(results, args) else 1


def fraction(text: str) -> float:
    """`--near-peak`: a fraction from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"not a fraction from 0 to 1: {text!r}")
    return value


def rates(text: str) -> list[float]:
    """`--rate`: positive request rates, comma-separated."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"not a list of positive rates: {text!r}")
    return values


def run(args: argparse.Namespace, tmp: Path, nginx: str) -> list[Result]:
    pki = make_pki(tmp / "pki")
    ctx = pki.client_context(pki.issue_device("BENCH-KIOSK", INSTITUTION))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    up = free_port()
    with contextlib.ExitStack() as stack:
        sim_args = [PY, "-m", "simulators.dukcapil", "--port", str(up), "--generated-population"]
        sim = stack.enter_context(
            process([*sim_args, "--user", f"{USER}:{PASSWORD}:{INSTITUTION}"], tmp / "sim.log")
        )
        wait_port(up, sim)
        token = login_token(up)
        auth = b"Authorization: Bearer %s\r\n" % token.encode()
        tls_args = [str(pki.server.cert), str(pki.server.key), str(pki.device_ca.cert), token]
        servers: list[tuple[Target, Callable[[], list[int]] | None]] = [
            (Target("upstream (direct, plain HTTP)", up, None, "/api/v1/nik", auth), None)
        ]

        def start(name: str, args_: list[str], port: int, family: bool = False) -> None:
            proc = stack.enter_context(process(args_, tmp / f"{port}.log"))
            wait_port(port, proc)
            pids = (lambda: [proc.pid, *children(proc.pid)]) if family else (lambda: [proc.pid])
            servers.append((Target(name, port, ctx, "/v1/verifications"), pids))

        port = free_port()
        cfg = gateway_config(tmp, pki, port, up)
        start("kiosk-gateway", [PY, "-m", "gateway.cli", "--config", str(cfg)], port)
        port = free_port()
        conf = nginx_config(tmp, pki, port, up, token)
        start("nginx (mTLS proxy)", [nginx, "-c", str(conf), "-p", str(tmp / "nginx")], port, True)
        if not args.no_reference:
            for name, script in (
                ("aiohttp floor (ref.)", FLOOR_RELAY),
                ("plain aiohttp relay", PLAIN_RELAY),
            ):
                port = free_port()
                upstream = f"http://127.0.0.1:{up}"
                start(name, [PY, "-c", script, str(port), upstream, *tls_args], port)
        if args.near_peak:
            # The gateway's own peak, so that one equal load for every server is near it.
            gateway = next(t for t, _ in servers if t.name == "kiosk-gateway")
            peak = uvloop.run(peak_rate(gateway, args))
            args.near_rate = max(100.0, round(args.near_peak * peak, -2))
            args.rate = sorted({*args.rate, args.near_rate})
        rounds: dict[str, list[Result]] = {t.name: [] for t, _ in servers}
        for _ in range(args.repeat):
            for target, pids in servers:
                rounds[target.name].append(uvloop.run(measure_once(target, pids, args)))
        results = [median_of(rs) for rs in rounds.values()]
        for (target, _), result in zip(servers, results, strict=True):
            if target.name in ("kiosk-gateway", "nginx (mTLS proxy)"):
                result.wire = measure_wire(target)
        sim_answers = upstream_outcomes(up)
    # The processes have stopped: the gateway has flushed its access log.
    gw_answers = access_log_outcomes(tmp / "gateway-logs" / "access.log")
    if set(sim_answers) != {"FOUND"} or set(gw_answers) != {"FOUND"}:
        raise RuntimeError(f"answers not FOUND: upstream {sim_answers}, gateway {gw_answers}")
    results[[t.name for t, _ in servers].index("kiosk-gateway")].outcomes = gw_answers
    return results


def upstream_outcomes(upstream_port: int) -> Counter[str]:
    """Outcome counts of the simulator's NIK queries (from every server and the direct runs)."""
    url = f"http://127.0.0.1:{upstream_port}/_control/stats"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return Counter(json.loads(resp.read())["outcomes"])


def access_log_outcomes(path: Path) -> Counter[str]:
    """Outcome counts of the gateway's access log."""
    with open(path) as f:
        return Counter(m.group(1) for m in map(_OUTCOME.search, f) if m)


_OUTCOME = re.compile(r" outcome=(\S+)")


def kept_up(result: Result, rate: float) -> bool:
    """The server served (nearly) all of an offered load."""
    return result.paced[rate][1] >= 0.95 * rate


def report(results: list[Result], args: argparse.Namespace) -> bool:
    """Print the figures; True if the gateway met its targets."""
    base, by_name = results[0], {r.name: r for r in results}
    nginx = by_name["nginx (mTLS proxy)"]
    load = os.getloadavg()
    print(
        f"\n{os.cpu_count()} CPUs, load {load[0]:.2f}; {args.repeat} rounds of"
        f" {args.seconds:.0f} s, {args.connections} connections;"
        f" latency: {args.latency_n} sequential requests"
    )
    print(f"Python {platform.python_version()} ({os.path.realpath(sys.executable)})")
    paced_head = "".join(f" {f'@{rate:.0f}/s':>8} {'vs nginx':>8}" for rate in args.rate)
    print(
        f"\n{'':30} {'req/s':>7} {'p50 +ms':>8} {'p99 +ms':>8}   CPU us/req: {'peak':>6}"
        f" {'vs nginx':>8}{paced_head}"
    )
    print(f"{base.name:30} {base.rps:7.0f} {base.p50_ms:7.3f}* {base.p99_ms:7.3f}*")
    short: list[str] = []
    for r in results[1:]:
        paced_cols = ""
        for rate in args.rate:
            cpu_us, rps = r.paced[rate]
            mark = " " if kept_up(r, rate) else "!"
            paced_cols += f" {cpu_us:8.1f} {cpu_us / nginx.paced[rate][0]:7.2f}x{mark}"
            if mark != " ":
                short.append(f"{r.name} served only {rps:.0f} of {rate:.0f} requests/s")
        print(
            f"{r.name:30} {r.rps:7.0f} {r.p50_ms - base.p50_ms:8.3f} {r.p99_ms - base.p99_ms:8.3f}"
            f"   {'':11}{r.cpu_us:6.1f} {r.cpu_us / nginx.cpu_us:7.2f}x{paced_cols}"
        )
    print("(* absolute latency of the direct upstream; other rows: latency added over it)")
    if args.near_peak:
        print(
            f"(@{args.near_rate:.0f}/s: {args.near_peak:.0%} of the gateway's peak in a run"
            " before the rounds)"
        )
    for line in short:
        print(f"(! {line})")
    gw = by_name["kiosk-gateway"]
    ratios = {rate: gw.paced[rate][0] / nginx.paced[rate][0] for rate in args.rate}
    same_load = ", ".join(f"{ratio:.2f}x at {rate:.0f}" for rate, ratio in ratios.items())
    cpu_ok = max(ratios.values()) <= CPU_TARGET and all(
        kept_up(r, rate) for r in (gw, nginx) for rate in args.rate
    )
    print(
        f"\nCPU per request, gateway / nginx, at the same offered load (target {CPU_TARGET}x):"
        f" {same_load} requests/s: {'OK' if cpu_ok else 'OVER TARGET'}"
    )
    print(
        f"At each one's own peak (gateway {gw.rps:.0f}/s, nginx {nginx.rps:.0f}/s; not like for"
        f" like): {gw.cpu_us / nginx.cpu_us:.2f}x"
    )
    print("\nBytes on the wire (TLS records), client→server + server→client:")
    for r in (gw, nginx):
        w = r.wire
        assert w is not None
        print(
            f"  {r.name:20} one verification, established connection: {w.steady[0]} + "
            f"{w.steady[1]} = {sum(w.steady)} bytes"
        )
        print(
            f"  {'':20} handshake {w.handshake[0]} + {w.handshake[1]}, first request "
            f"{w.first[0]} + {w.first[1]}, resumption {'yes' if w.resumed else 'NO'} "
            f"({w.resumed_handshake} bytes)"
        )
    assert gw.wire is not None
    wire_ok = sum(gw.wire.steady) < WIRE_TARGET
    print(
        f"\nGateway, one verification both ways: {sum(gw.wire.steady)} bytes"
        f" (target < {WIRE_TARGET}): {'OK' if wire_ok else 'OVER TARGET'}"
    )
    assert gw.outcomes is not None
    found = gw.outcomes["FOUND"]
    print(f"Gateway answers: {found} FOUND (all), each request a different NIK")
    return cpu_ok and wire_ok


if __name__ == "__main__":
    sys.exit(main())
