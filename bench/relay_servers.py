"""The servers the gateway bench runs side by side: the gateway, nginx and the aiohttp floor,
with the Dukcapil simulator behind them; their configurations and processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from kiosk_sim.pki import Pki

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
USER, PASSWORD, INSTITUTION = "BENCH-USER", "bench-password", "bench-inst"
CLK_TCK = os.sysconf("SC_CLK_TCK")
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

FLOOR_RELAY = (
    """
import asyncio, ssl, sys
import aiohttp, uvloop
from aiohttp import web
"""
    + _TLS_SETUP
    + """
port, upstream, cert, key, ca, token = sys.argv[1:7]

async def main():
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    async def verify(request):
        body = await request.read()
        async with session.post(upstream + "/api/v1/nik", data=body, headers=headers) as resp:
            data = await resp.read()
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


# ---------------------------------------------------------------- main
