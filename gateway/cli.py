"""`kiosk-gateway --config gateway.toml`: run the Platform Bersama relay."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

import uvloop

from common.hardening import disable_core_dumps
from gateway.config import GatewayConfig, load_config
from gateway.errors import ConfigError, GatewayError
from gateway.logs import setup_logging
from gateway.server import start_gateway

log = logging.getLogger("gateway")


async def serve(config: GatewayConfig) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the device CRL."""
    running = await start_gateway(config)
    # What startup made (config, TLS, aiohttp's app) lives as long as the process: leave it out
    # of every garbage collection from now on.
    gc.collect()
    gc.freeze()
    print(f"kiosk-gateway listening on {config.server.host}:{running.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload, running)
    try:
        await stop.wait()
    finally:
        await running.close()
        log.info("gateway stopped")


def _reload(running: object) -> None:
    try:
        running.reload_crl()  # type: ignore[attr-defined]
    except ConfigError as err:
        log.error("CRL reload failed, keeping the old one: %s", err)


def main(argv: list[str] | None = None) -> int:
    """Entry point of kiosk-gateway."""
    parser = argparse.ArgumentParser(prog="kiosk-gateway", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="the TOML config file")
    parser.add_argument(
        "--check", action="store_true", help="validate the config and exit (0 when valid)"
    )
    args = parser.parse_args(argv)
    if not disable_core_dumps():
        log.warning("prctl(PR_SET_DUMPABLE, 0) failed; RLIMIT_CORE is 0 anyway")
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(f"kiosk-gateway: config error: {err}", file=sys.stderr)
        return 2
    if args.check:
        print("kiosk-gateway: config OK", file=sys.stderr)
        return 0
    setup_logging(config.logging)
    try:
        uvloop.run(serve(config))
    except ConfigError as err:
        print(f"kiosk-gateway: config error: {err}", file=sys.stderr)
        return 2
    except (GatewayError, OSError) as err:
        print(f"kiosk-gateway: cannot start: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        logging.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
