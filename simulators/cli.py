"""`kiosk-sim`: start the simulated kiosk devices, script them, and run the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
from pathlib import Path

from simulators.control import start_control
from simulators.devices import SimulatedDevices

_log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiosk-sim",
        description="Simulated Platform Bersama kiosk devices on real middleware (pcscd, pty).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True)
    devices = sub.add_parser(
        "devices",
        help="start the simulated devices and a control API on loopback, until Ctrl-C",
    )
    devices.add_argument("--control-port", type=int, default=8765, help="default: 8765")
    devices.add_argument("--baud", type=int, default=57600, help="sensor baud (default 57600)")
    devices.add_argument("--run-dir", type=Path, help="default: a fresh temporary directory")
    demo = sub.add_parser("demo", help="read cards and match fingers for a few personas")
    demo.add_argument("--run-dir", type=Path, help="default: a fresh temporary directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of kiosk-sim."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        with contextlib.ExitStack() as stack:
            run_dir = args.run_dir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="kiosk-sim-"))
            )
            if args.command == "devices":
                return _devices(run_dir, args.control_port, args.baud)
            return _demo(run_dir)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # one line for the operator; the traceback only with -v
        _log.debug("kiosk-sim failed", exc_info=True)
        print(f"kiosk-sim: error: {err}", file=sys.stderr)
        return 1


def _demo(run_dir: Path) -> int:
    from simulators.device_demo import format_table, run_device_demo

    with SimulatedDevices(run_dir) as devices:
        results = run_device_demo(devices)
    print(format_table(results))
    failed = [r for r in results if not r.ok]
    print(f"\n{len(results) - len(failed)} of {len(results)} scenarios as expected")
    return 1 if failed else 0


def _devices(run_dir: Path, control_port: int, baud: int) -> int:
    with SimulatedDevices(run_dir, baud=baud) as devices:
        return asyncio.run(_serve(devices, control_port))


async def _serve(devices: SimulatedDevices, control_port: int) -> int:
    runner, port = await start_control(devices, port=control_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    paths = devices.paths
    print(f"control API:       http://127.0.0.1:{port}/status")
    print(f"PC/SC socket:      PCSCLITE_CSOCK_NAME={paths.pcsc_socket}")
    print(f"card / SAM reader: {paths.card_reader!r} / {paths.sam_reader!r}")
    print(f"fingerprint port:  {paths.fingerprint_port}")
    print("Ctrl-C stops everything.", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0
