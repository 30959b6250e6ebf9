"""Gateway relay vs nginx as an mTLS reverse proxy, in front of the same upstream, same machine.

    .venv/bin/python -m bench gateway_relay [--seconds 4] [--connections 16] [--repeat 3]
                                            [--rate 1000,2000] [--near-peak 0.9]

Starts the Dukcapil simulator as its own process, then these servers side by side (each its
own process, measured one at a time, rounds interleaved, medians reported):

- kiosk-gateway, started with its CLI (aiohttp on uvloop, SQLite store, access log on);
- nginx from Debian: worker_processes 1, TLS 1.3, client certificates, keep-alive upstream pool,
  buffered access log, stateful session cache;
- for reference, the aiohttp floor: an aiohttp server and client session on uvloop that only
  relay the body (no policy, no parsing), what the gateway's stack costs by itself.

The load generator (bench.https_load) speaks HTTP/1.1 over TLS 1.3 with a client certificate
and keep-alive, on this machine. Printed: throughput (one request in flight per connection),
server CPU per request (utime + stime from /proc, every thread of the server's processes) and
its ratio to nginx's at the same offered loads (`--rate`, requests per second paced over the
same connections, and `--near-peak`, a fraction of the gateway's own peak found in a run before
the rounds), p50/p99 latency at 1,000 requests/s added over calling the upstream directly at the
same rate, and the TLS bytes on the wire for one verification on an established connection.
CPU per request at each server's own peak is printed too, but is not like for like: the faster
server runs at a higher load, where it also does more work per wake-up. Everything is sampled
over established, warm keep-alive connections: handshakes are not counted.

Targets judged (the exit status is non-zero when one is missed): at least 2,000 verifications/s
(20 fully loaded 1 Mbps lines), p99 added latency at most 2 ms at 1,000/s, and at most 900 bytes
on the wire, both ways, for one verification on an open connection.

Every request carries a different NIK, as kiosk traffic does: the gateway keeps anti-scraping
state per NIK prefix in memory, and one NIK sent again and again would hide what that costs. The
NIKs are valid, of real region codes (the personas'), with random birth dates and serials; the
simulator runs with `--generated-population`, so each is FOUND with a full synthetic record.
They come in a seeded random order that uses each 12-digit prefix (region + birth date) once per
470,400 requests, so the gateway's anti-scraping refuses none; every server gets the same
sequence. The run fails unless every answer of the simulator and of the gateway is FOUND.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from bench.https_load import (
    Conn,
    Target,
    WireBytes,
    close_all,
    measure_wire,
    open_connections,
    paced,
    pct,
    throughput,
)
from bench.relay_servers import (
    FLOOR_RELAY,
    INSTITUTION,
    PASSWORD,
    PY,
    ROOT,
    USER,
    children,
    cpu_seconds,
    free_port,
    gateway_config,
    login_token,
    nginx_config,
    process,
    wait_port,
)
from kiosk_sim.pki import make_pki

GATEWAY, NGINX = "kiosk-gateway", "nginx (mTLS proxy)"
RATE_TARGET = 2000.0  # verifications per second, at least
LATENCY_RATE = 1000.0  # the offered load the added latency is judged at
LATENCY_TARGET_MS = 2.0  # p99 added latency at LATENCY_RATE, at most
WIRE_TARGET = 900  # bytes of one verification on an established connection, both ways, at most


@dataclass
class Result:
    name: str
    rps: float = 0.0  # at the server's peak (one request in flight per connection)
    cpu_us: float = 0.0  # CPU per request at the server's peak
    # offered rate → (CPU us per request, requests/s achieved, p50 ms, p99 ms)
    paced: dict[float, tuple[float, float, float, float]] = field(default_factory=dict)
    wire: WireBytes | None = None
    outcomes: Counter[str] | None = None  # of the gateway's answers, from its access log


async def sampled(watched: list[int], run: Awaitable[int]) -> tuple[int, float, float]:
    """The requests `run` completes, its seconds, and the CPU seconds of `watched` meanwhile."""
    cpu0 = cpu_seconds(watched)
    t0 = time.monotonic()
    count = await run
    return count, time.monotonic() - t0, cpu_seconds(watched) - cpu0


async def measure_once(
    target: Target,
    pids: Callable[[], list[int]] | None,
    rates: list[float],
    args: argparse.Namespace,
) -> Result:
    """One round: the peak, then each offered rate, over the same warm connections."""
    watched = pids() if pids else []
    conns = await open_connections(target, args.connections)
    try:
        count, elapsed, cpu = await sampled(watched, throughput(target, conns, args.seconds))
        result = Result(target.name, count / elapsed, cpu / count * 1e6)
        for rate in rates:
            rtts: list[float] = []
            run = paced(target, conns, args.seconds, rate, rtts)
            count, elapsed, cpu = await sampled(watched, run)
            ms = pct(rtts, 50) * 1e3, pct(rtts, 99) * 1e3
            result.paced[rate] = (cpu / count * 1e6, count / elapsed, *ms)
    finally:
        close_all(conns)
    return result


async def peak_rate(target: Target, args: argparse.Namespace) -> float:
    """Requests per second of one throughput run, over warm connections."""
    conns: list[Conn] = await open_connections(target, args.connections)
    try:
        count, elapsed, _ = await sampled([], throughput(target, conns, args.seconds))
    finally:
        close_all(conns)
    return count / elapsed


def median_of(results: list[Result]) -> Result:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    return Result(
        results[0].name,
        med([r.rps for r in results]),
        med([r.cpu_us for r in results]),
        paced={
            rate: (
                med([r.paced[rate][0] for r in results]),
                med([r.paced[rate][1] for r in results]),
                med([r.paced[rate][2] for r in results]),
                med([r.paced[rate][3] for r in results]),
            )
            for rate in results[0].paced
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench gateway_relay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="each run (default 4)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive (default 16)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, medians (default 3)")
    parser.add_argument(
        "--rate",
        type=rates,
        default=[1000.0, 2000.0],
        help="offered loads of the paced runs, requests/s, comma-separated (default 1000,2000;"
        f" {LATENCY_RATE:.0f} is always one)",
    )
    parser.add_argument(
        "--near-peak",
        type=fraction,
        default=0.9,
        help="also pace every server at this fraction of the gateway's peak, found in a run"
        " before the rounds (default 0.9; 0: no such rate)",
    )
    parser.add_argument("--no-reference", action="store_true", help="skip the aiohttp floor")
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
        direct = Target("upstream (direct, plain HTTP)", up, None, "/api/v1/nik", auth)
        servers: list[tuple[Target, Callable[[], list[int]]]] = []

        def start(name: str, args_: list[str], port: int, family: bool = False) -> None:
            proc = stack.enter_context(process(args_, tmp / f"{port}.log"))
            wait_port(port, proc)
            pids = (lambda: [proc.pid, *children(proc.pid)]) if family else (lambda: [proc.pid])
            servers.append((Target(name, port, ctx, "/v1/verifications"), pids))

        port = free_port()
        cfg = gateway_config(tmp, pki, port, up)
        start(GATEWAY, [PY, "-m", "gateway.cli", "--config", str(cfg)], port)
        port = free_port()
        conf = nginx_config(tmp, pki, port, up, token)
        start(NGINX, [nginx, "-c", str(conf), "-p", str(tmp / "nginx")], port, True)
        if not args.no_reference:
            port = free_port()
            upstream = f"http://127.0.0.1:{up}"
            start(
                "aiohttp floor (ref.)",
                [PY, "-c", FLOOR_RELAY, str(port), upstream, *tls_args],
                port,
            )
        args.rate = sorted({*args.rate, LATENCY_RATE})
        if args.near_peak:
            # The gateway's own peak, so that one equal load for every server is near it.
            peak = uvloop.run(peak_rate(servers[0][0], args))
            args.near_rate = max(100.0, round(args.near_peak * peak, -2))
            args.rate = sorted({*args.rate, args.near_rate})
        rounds: dict[str, list[Result]] = {t.name: [] for t in (direct, *(t for t, _ in servers))}
        for _ in range(args.repeat):
            rounds[direct.name].append(uvloop.run(measure_once(direct, None, [LATENCY_RATE], args)))
            for target, pids in servers:
                rounds[target.name].append(uvloop.run(measure_once(target, pids, args.rate, args)))
        results = [median_of(rs) for rs in rounds.values()]
        for result, (target, _) in zip(results[1:3], servers[:2], strict=True):
            result.wire = measure_wire(target)
        sim_answers = upstream_outcomes(up)
    # The processes have stopped: the gateway has flushed its access log.
    gw_answers = access_log_outcomes(tmp / "gateway-logs" / "access.log")
    if set(sim_answers) != {"FOUND"} or set(gw_answers) != {"FOUND"}:
        raise RuntimeError(f"answers not FOUND: upstream {sim_answers}, gateway {gw_answers}")
    results[1].outcomes = gw_answers
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


def _verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def report(results: list[Result], args: argparse.Namespace) -> bool:
    """Print the figures; True if the gateway met its targets."""
    base, by_name = results[0], {r.name: r for r in results}
    gw, nginx = by_name[GATEWAY], by_name[NGINX]
    load = os.getloadavg()
    print(
        f"\n{os.cpu_count()} CPUs, load {load[0]:.2f}; {args.repeat} rounds of"
        f" {args.seconds:.0f} s runs, {args.connections} keep-alive connections, the load"
        " generator and the upstream simulator on the same machine"
    )
    print(f"Python {platform.python_version()} ({os.path.realpath(sys.executable)})")
    lat = f"@{LATENCY_RATE:.0f}/s"
    paced_head = "".join(f" {f'@{rate:.0f}/s':>8} {'vs nginx':>8}" for rate in args.rate)
    print(
        f"\n{'':28} {'peak/s':>7} {lat + ' p50':>12} {'p99':>6}  CPU us/req: {'peak':>6}"
        f"{paced_head}"
    )
    b50, b99 = base.paced[LATENCY_RATE][2:]
    print(f"{base.name:28} {base.rps:7.0f} {b50:11.2f}* {b99:5.2f}*")
    short: list[str] = []
    for r in results[1:]:
        cols = ""
        for rate in args.rate:
            cpu_us, rps, _, _ = r.paced[rate]
            mark = " " if kept_up(r, rate) else "!"
            cols += f" {cpu_us:8.1f} {cpu_us / nginx.paced[rate][0]:7.2f}x{mark}"
            if mark != " ":
                short.append(f"{r.name} served only {rps:.0f} of {rate:.0f} requests/s")
        p50, p99 = r.paced[LATENCY_RATE][2:]
        print(
            f"{r.name:28} {r.rps:7.0f} {p50 - b50:+12.2f} {p99 - b99:+6.2f}"
            f"  {'':11}{r.cpu_us:6.1f}{cols}"
        )
    print(
        f"(* absolute milliseconds of the direct upstream {lat}; other rows: milliseconds added"
        " over it)"
    )
    if args.near_peak:
        print(
            f"(@{args.near_rate:.0f}/s: {args.near_peak:.0%} of the gateway's peak in a run"
            " before the rounds)"
        )
    for line in short:
        print(f"(! {line})")
    ratios = ", ".join(
        f"{gw.paced[rate][0] / nginx.paced[rate][0]:.2f}x at {rate:.0f}" for rate in args.rate
    )
    print(f"\nCPU per request, gateway / nginx, at the same offered load: {ratios} requests/s")
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
    assert gw.wire is not None and gw.outcomes is not None
    rate_ok = gw.rps >= RATE_TARGET
    added = gw.paced[LATENCY_RATE][3] - b99
    latency_ok = added <= LATENCY_TARGET_MS and kept_up(gw, LATENCY_RATE)
    wire = sum(gw.wire.steady)
    wire_ok = wire <= WIRE_TARGET
    print("\nTargets of the gateway:")
    print(f"  throughput {gw.rps:.0f}/s (at least {RATE_TARGET:.0f}/s): {_verdict(rate_ok)}")
    print(
        f"  p99 added latency {lat} {added:.2f} ms (at most {LATENCY_TARGET_MS:.0f} ms):"
        f" {_verdict(latency_ok)}"
    )
    print(f"  one verification both ways {wire} bytes (at most {WIRE_TARGET}): {_verdict(wire_ok)}")
    print(f"Gateway answers: {gw.outcomes['FOUND']} FOUND (all), each request a different NIK")
    return rate_ok and latency_ok and wire_ok


if __name__ == "__main__":
    sys.exit(main())
