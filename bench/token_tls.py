"""TLS with the kiosk's key in a PKCS#11 token (SoftHSM through pkcs11-provider) against a file key.

Both ends in this process over memory BIOs (no network in the figure): the server with a file
key requires a client certificate; the client is the kiosk with its key in SoftHSM or in a PEM
file. Prints the median full TLS 1.3 handshake (no resumption) for each, and the CPU time per
verification-sized exchange (1.5 KB up, 1 KB down) on an open connection for each: the token is
used only in the handshake, so the target for the latter is no measurable difference.
"""

from __future__ import annotations

import argparse
import os
import ssl
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from common.tls import client_context, load_token_provider, write_token_provider_config
from common.token import Token, write_uri_pem
from kiosk_sim.pki import make_pki
from kiosk_sim.softhsm import SoftHsm

DEVICE = "KIOSK-BENCH-1"


def _pump(client: ssl.SSLObject, server: ssl.SSLObject, bios: list[ssl.MemoryBIO]) -> None:
    c_in, c_out, s_in, s_out = bios
    for _ in range(20):
        done = 0
        for obj in (client, server):
            try:
                obj.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done == 2 and not c_out.pending and not s_out.pending:
            return
    raise RuntimeError("handshake did not finish")


def _connect(
    cctx: ssl.SSLContext, sctx: ssl.SSLContext
) -> tuple[ssl.SSLObject, ssl.SSLObject, list[ssl.MemoryBIO]]:
    bios = [ssl.MemoryBIO() for _ in range(4)]
    client = cctx.wrap_bio(bios[0], bios[1], server_hostname="localhost")
    server = sctx.wrap_bio(bios[2], bios[3], server_side=True)
    _pump(client, server, bios)
    return client, server, bios


def handshakes(cctx: ssl.SSLContext, sctx: ssl.SSLContext, n: int) -> list[float]:
    """Wall ms of `n` full handshakes."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client, _, _ = _connect(cctx, sctx)
        times.append((time.perf_counter() - t0) * 1000)
        assert client.version() == "TLSv1.3"
    return times


def exchanges(cctx: ssl.SSLContext, sctx: ssl.SSLContext, n: int) -> float:
    """CPU µs per request/answer pair on one open connection."""
    client, server, (c_in, c_out, s_in, s_out) = _connect(cctx, sctx)
    up, down = b"u" * 1500, b"d" * 1000
    t0 = time.process_time()
    for _ in range(n):
        client.write(up)
        s_in.write(c_out.read())
        server.read(4096)
        server.write(down)
        c_in.write(s_out.read())
        client.read(4096)
    return (time.process_time() - t0) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.token_tls", description=__doc__)
    parser.add_argument("--handshakes", type=int, default=200)
    parser.add_argument("--exchanges", type=int, default=20000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        hsm = SoftHsm(folder / "softhsm")
        os.environ.update(hsm.env())
        config = hsm.init_token("bench")
        conf = write_token_provider_config(folder / "openssl.cnf", hsm.module, config.pin_file)
        load_token_provider(conf)
        pki = make_pki(folder / "pki")
        with Token.open(config) as token:
            key = token.generate_key(DEVICE)
            cert = pki.certify_device(DEVICE, "perpus-bench", key.public_key())
            uri = folder / "device.key"
            write_uri_pem(uri, key.uri)
        # the comparison's file key, made here on purpose (a kiosk's key is never a file)
        pem = ec.generate_private_key(ec.SECP256R1())
        file_cert = pki.certify_device(DEVICE, "perpus-bench", pem.public_key())
        file_key = folder / "file-device.key"
        file_key.write_bytes(
            pem.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(pki.server.cert, pki.server.key)
        sctx.verify_mode = ssl.CERT_REQUIRED
        sctx.load_verify_locations(pki.device_ca.cert)
        sctx.options |= ssl.OP_NO_TICKET
        token_ctx = client_context(pki.server_ca.cert, cert, uri)
        file_ctx = client_context(pki.server_ca.cert, file_cert, file_key)
        handshakes(token_ctx, sctx, 5)
        handshakes(file_ctx, sctx, 5)
        token_hs = statistics.median(handshakes(token_ctx, sctx, args.handshakes))
        file_hs = statistics.median(handshakes(file_ctx, sctx, args.handshakes))
        token_cpu = min(exchanges(token_ctx, sctx, args.exchanges) for _ in range(3))
        file_cpu = min(exchanges(file_ctx, sctx, args.exchanges) for _ in range(3))
    print(f"full TLS 1.3 handshake (client and server, median of {args.handshakes}):")
    print(f"  token key (SoftHSM, pkcs11-provider): {token_hs:.2f} ms")
    print(f"  file key:                             {file_hs:.2f} ms")
    print(f"  extra per handshake with the token:   {token_hs - file_hs:+.2f} ms")
    print("CPU per verification-sized exchange on an open connection (best of 3):")
    print(
        f"  token key: {token_cpu:.1f} µs   file key: {file_cpu:.1f} µs   "
        f"difference: {token_cpu - file_cpu:+.1f} µs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
