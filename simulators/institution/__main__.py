"""`python -m simulators.institution`: run the simulated member registry as a process."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from common.errors import TlsFileError
from common.tls import server_context
from simulators.institution.app import start_institution_sim


async def _serve(args: argparse.Namespace) -> None:
    ctx = server_context(args.cert, args.key, [args.client_ca])
    running = await start_institution_sim(
        args.data_dir, ctx, args.host, args.port, prefix=args.prefix
    )
    print(f"institution-sim listening on {running.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await running.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m simulators.institution")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8444)
    parser.add_argument("--cert", type=Path, required=True, help="server certificate (PEM)")
    parser.add_argument("--key", type=Path, required=True, help="its private key (PEM)")
    parser.add_argument(
        "--client-ca", type=Path, required=True, help="the CA of the kiosks' certificates"
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="register and log")
    parser.add_argument("--prefix", default="PERPUS-SIM", help="of the member numbers")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except TlsFileError as err:
        print(f"institution-sim: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"institution-sim: error: cannot listen on {args.host}:{args.port}: {err.strerror}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
