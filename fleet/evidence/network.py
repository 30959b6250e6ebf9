"""Closed network: the deployment's listeners (from /proc) and its TLS endpoints' versions and
suites (probed with Python's ssl)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fleet.evidence.model import Result, failed, passed

PROC = Path("/proc")
_LISTEN = "0A"
# Suites a deployment must refuse: no forward secrecy, CBC, SHA-1 MACs, 3DES.
WEAK_TLS12 = (
    "AES128-SHA:AES256-SHA:AES128-SHA256:AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA:DES-CBC3-SHA"
)
STRONG_TLS12 = "ECDHE+AESGCM:ECDHE+CHACHA20"
# The server refused the client's certificate: the version and suite were agreed before that.
_CERT_REASONS = ("UNKNOWN_CA", "CERTIFICATE_UNKNOWN", "BAD_CERTIFICATE", "CERTIFICATE_REQUIRED")
_CLIENT_CANNOT = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_CIPHER_MATCH")


@dataclass(frozen=True, slots=True)
class Listener:
    """One listening TCP socket."""

    address: str
    port: int
    inode: int

    def __str__(self) -> str:
        return (
            f"[{self.address}]:{self.port}"
            if ":" in self.address
            else f"{self.address}:{self.port}"
        )


def _address(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # /proc prints IPv6 as four host-order 32-bit words
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    v6 = ipaddress.IPv6Address(words)
    return str(v6.ipv4_mapped or v6)


def listeners(proc: Path = PROC) -> list[Listener]:
    """Every listening TCP socket of the host (/proc/net/tcp and tcp6)."""
    found = []
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10 or cols[3] != _LISTEN:
                continue
            host, port = cols[1].split(":")
            found.append(Listener(_address(host), int(port, 16), int(cols[9])))
    return found


def socket_inodes(pid: int, proc: Path = PROC) -> set[int]:
    """The socket inodes a process holds (empty if it is gone or not ours to read)."""
    inodes: set[int] = set()
    try:
        fds = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def pids_by_command(patterns: Iterable[str], proc: Path = PROC) -> set[int]:
    """Processes whose command line contains one of the patterns."""
    wanted = [p for p in patterns if p]
    pids: set[int] = set()
    if not wanted:
        return pids
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(p in cmd for p in wanted):
            pids.add(int(entry.name))
    return pids


def owners(inodes: set[int], proc: Path = PROC) -> set[int]:
    """The processes holding any of these socket inodes."""
    pids = set()
    for entry in proc.iterdir():
        if entry.name.isdigit() and socket_inodes(int(entry.name), proc) & inodes:
            pids.add(int(entry.name))
    return pids


def _allowed(address: str, allowed: Iterable[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or address in set(allowed)


def check_listeners(
    endpoints: list[tuple[str, int]], addresses: tuple[str, ...], pids: set[int]
) -> tuple[Result | None, set[int]]:
    """A FAIL when an endpoint is not listening or a deployment process listens elsewhere
    (None when all is well); and the deployment's processes (the endpoints' owners too)."""
    every = listeners()
    by_port: dict[int, list[Listener]] = {}
    for lis in every:
        by_port.setdefault(lis.port, []).append(lis)
    missing = [f"{h}:{p}" for h, p in endpoints if p not in by_port]
    owned = owners({lis.inode for h, p in endpoints for lis in by_port.get(p, [])})
    pids = pids | owned
    held = set().union(*(socket_inodes(pid) for pid in pids)) if pids else set()
    stray = sorted(
        {str(lis) for lis in every if lis.inode in held and not _allowed(lis.address, addresses)}
    )
    if missing or stray:
        parts = []
        if missing:
            parts.append(f"not listening: {', '.join(missing)}")
        if stray:
            parts.append(f"listening outside the closed network: {', '.join(stray)}")
        fix = (
            "Jalankan layanan yang tidak mendengarkan; ikat setiap layanan hanya ke alamat "
            "jaringan tertutup ([evidence] addresses) / Start the services not listening; bind "
            "every service to the closed network's addresses only (listen/host in its config)"
        )
        return failed("network", "; ".join(parts), fix, stray=stray, missing=missing), pids
    return None, pids


@dataclass(frozen=True, slots=True)
class Handshake:
    """How one endpoint answered one TLS offer."""

    offer: str
    agreed: bool | None  # None: this client could not make the offer (not tested)
    note: str


def _offer(host: str, port: int, ctx: ssl.SSLContext, offer: str, timeout: float) -> Handshake:
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            cipher = tls.cipher()
            return Handshake(offer, True, f"{tls.version()} {cipher[0] if cipher else '?'}")
    except ssl.SSLError as err:
        reason = (err.reason or str(err)).upper()
        if any(r in reason for r in _CLIENT_CANNOT):
            return Handshake(offer, None, f"this client cannot offer it ({err.reason})")
        if any(r in reason for r in _CERT_REASONS):
            return Handshake(offer, True, f"agreed, then the client certificate refused ({reason})")
        return Handshake(offer, False, f"refused ({err.reason or type(err).__name__})")
    except OSError as err:
        return Handshake(offer, False, f"connection closed ({type(err).__name__})")


def _context(
    lo: ssl.TLSVersion, hi: ssl.TLSVersion, ciphers: str | None, identity: tuple[Path, Path] | None
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # what is probed is the offer, not the server's name
    if ciphers is not None:
        ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
    with contextlib.suppress(ValueError):
        ctx.minimum_version, ctx.maximum_version = lo, hi
    if identity is not None:
        ctx.load_cert_chain(identity[0], identity[1])
    return ctx


def probe_tls(
    host: str, port: int, identity: tuple[Path, Path] | None, timeout: float = 5.0
) -> list[Handshake]:
    """Offer TLS 1.3, TLS 1.2 strong, TLS 1.2 weak suites, TLS 1.1 and TLS 1.0."""
    v = ssl.TLSVersion
    offers = (
        ("TLS 1.3", v.TLSv1_3, v.TLSv1_3, None),
        ("TLS 1.2 ECDHE+AEAD", v.TLSv1_2, v.TLSv1_2, STRONG_TLS12),
        ("TLS 1.2 weak suites", v.TLSv1_2, v.TLSv1_2, WEAK_TLS12),
        ("TLS 1.1", v.TLSv1_1, v.TLSv1_1, "ALL"),
        ("TLS 1.0", v.TLSv1, v.TLSv1, "ALL"),
    )
    out = []
    for name, lo, hi, ciphers in offers:
        try:
            ctx = _context(lo, hi, ciphers, identity)
        except ssl.SSLError as err:
            out.append(Handshake(name, None, f"this client cannot offer it ({err.reason})"))
            continue
        out.append(_offer(host, port, ctx, name, timeout))
    return out


# TLS 1.3 must be agreed; TLS 1.2 with ECDHE+AEAD may be (or refused: stricter); the rest not.
EXPECTED: dict[str, bool | None] = {"TLS 1.3": True, "TLS 1.2 ECDHE+AEAD": None}


def tls_findings(endpoint: str, shakes: list[Handshake]) -> list[str]:
    """What an endpoint did against what it should (empty: as it should)."""
    wrong = []
    for s in shakes:
        want = EXPECTED.get(s.offer, False)
        if s.agreed is None or want is None:
            continue
        if s.agreed != want:
            verb = "accepted" if s.agreed else "refused"
            wrong.append(f"{endpoint} {verb} {s.offer} ({s.note})")
    return wrong


def check_tls(
    endpoints: list[tuple[str, int]], identity: tuple[Path, Path] | None
) -> tuple[list[str], dict[str, list[dict[str, object]]]]:
    """Findings over every endpoint, and every handshake for the report's facts."""
    findings: list[str] = []
    facts: dict[str, list[dict[str, object]]] = {}
    for host, port in endpoints:
        shakes = probe_tls(host, port, identity)
        name = f"{host}:{port}"
        findings += tls_findings(name, shakes)
        facts[name] = [{"offer": s.offer, "agreed": s.agreed, "note": s.note} for s in shakes]
    return findings, facts


def check_network(
    endpoints: list[tuple[str, int]],
    addresses: tuple[str, ...],
    pids: set[int],
    identity: tuple[Path, Path] | None,
) -> tuple[Result, set[int]]:
    """The closed-network duty; and the deployment's processes found on the way."""
    result, pids = check_listeners(endpoints, addresses, pids)
    if result is not None:
        return result, pids
    findings, facts = check_tls(endpoints, identity)
    if findings:
        fix = (
            "Batasi TLS ke 1.2 (ECDHE+AEAD) dan 1.3 pada layanan tersebut / Limit TLS to 1.2 "
            "(ECDHE+AEAD) and 1.3 on that service (tls_version, ciphers in its config)"
        )
        return failed("network", "; ".join(findings), fix, tls=facts), pids
    strong = ", ".join(
        f"{name} {'accepted' if s['agreed'] else 'refused'}"
        for name, shakes in facts.items()
        for s in shakes
        if s["offer"] == "TLS 1.2 ECDHE+AEAD"
    )
    untested = sorted({str(s["offer"]) for f in facts.values() for s in f if s["agreed"] is None})
    note = f"; not offered by this client: {', '.join(untested)}" if untested else ""
    detail = (
        f"{len(pids)} processes listen on {', '.join(addresses)} or loopback only; "
        f"{len(endpoints)} TLS endpoints accept TLS 1.3 and refuse weak TLS 1.2 suites and "
        f"older versions (TLS 1.2 ECDHE+AEAD: {strong}){note}"
    )
    return passed("network", detail, tls=facts, processes=sorted(pids)), pids
