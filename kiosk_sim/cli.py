"""`kiosk-sim`: start the simulated kiosk devices, script them, and run the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import tempfile
from pathlib import Path

from kiosk_sim.control import start_control
from kiosk_sim.devices import SimulatedDevices

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
    hw = sub.add_parser(
        "demo-devices", help="drivers only: read cards and match fingers for a few personas"
    )
    hw.add_argument("--run-dir", type=Path, help="default: a fresh temporary directory")
    up = sub.add_parser(
        "up",
        help="the whole kiosk on loopback: devices, Dukcapil simulator, gateway, agent and UI",
    )
    up.add_argument("--control-port", type=int, default=8765, help="default: 8765")
    up.add_argument("--run-dir", type=Path, help="default: a fresh temporary directory")
    up.add_argument(
        "--bare",
        action="store_true",
        help="the kiosk as from the factory: no certificate, no bindings (kiosk-provision's)",
    )
    demo = sub.add_parser(
        "demo", help="run every verification scenario against the whole stack and print a table"
    )
    demo.add_argument("--json", action="store_true", help="one JSON object per scenario")
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
            if args.command == "demo-devices":
                return _demo_devices(run_dir)
            if args.command == "up":
                return asyncio.run(_up(run_dir, args.control_port, bare=args.bare))
            return asyncio.run(_demo(run_dir, as_json=args.json))
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # one line for the operator; the traceback only with -v
        _log.debug("kiosk-sim failed", exc_info=True)
        print(f"kiosk-sim: error: {err}", file=sys.stderr)
        return 1


def _demo_devices(run_dir: Path) -> int:
    from kiosk_sim.device_demo import format_table, run_device_demo

    with SimulatedDevices(run_dir) as devices:
        results = run_device_demo(devices)
    print(format_table(results))
    failed = [r for r in results if not r.ok]
    print(f"\n{len(results) - len(failed)} of {len(results)} scenarios as expected")
    return 1 if failed else 0


def _devices(run_dir: Path, control_port: int, baud: int) -> int:
    with SimulatedDevices(run_dir, baud=baud) as devices:
        return asyncio.run(_serve(devices, control_port))


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _demo(run_dir: Path, *, as_json: bool) -> int:
    from kiosk_sim.mqtt_recorder import MessageRecorder
    from kiosk_sim.scenarios import ScenarioResult, format_results, run_scenarios
    from kiosk_sim.stack import DEMO_TIMEOUTS, Stack

    def show(result: ScenarioResult) -> None:
        if as_json:
            print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)

    if not as_json:
        print("Starting the simulated kiosk stack...", file=sys.stderr, flush=True)
    async with Stack(run_dir, timeouts=DEMO_TIMEOUTS) as stack:
        # an admin subscriber on kiosk/# keeps every message, for the privacy scan
        assert stack.broker is not None and stack.fleet is not None
        recorder = await asyncio.to_thread(MessageRecorder(stack.broker, stack.fleet).start)
        try:
            results = await run_scenarios(stack, on_result=show)
        finally:
            recorder.stop()
            recorder.dump(run_dir / "mqtt-messages.log")
    failed = [r for r in results if not r.ok]
    if not as_json:
        print(format_results(results))
        print(f"\n{len(results) - len(failed)} of {len(results)} scenarios as expected")
    return 1 if failed else 0


async def _up(run_dir: Path, control_port: int, *, bare: bool = False) -> int:
    from kiosk_sim.stack import Stack

    stop = _stop_event()
    print("Starting the simulated kiosk stack...", flush=True)
    async with Stack(run_dir, bare=bare) as stack:
        runner, port = await start_control(stack.devices, port=control_port, mcu=stack.mcu)
        try:
            assert stack.broker is not None and stack.fleet is not None
            await stack.register_kiosk()  # in the fleet's registry, as provisioning would
            print(f"kiosk page (open in a browser): {stack.ui_url}")
            print(f"MQTT broker (TLS):              127.0.0.1:{stack.broker.port}")
            print(
                f"admin tool:                     kiosk-fleet --config {stack.fleet.fleet_config}"
            )
            print(f"device control API:             http://127.0.0.1:{port}/status")
            print(f"gateway:                        https://127.0.0.1:{stack.gateway_port}")
            if stack.fleet_service is not None and stack.fleet_service.dashboard_url:
                print(f"fleet dashboard:                {stack.fleet_service.dashboard_url}")
            if stack.alerts is not None:
                print(f"admins' webhook (GET: alerts):  {stack.alerts.url}")
            print(f"run directory:                  {run_dir}")
            if bare:
                print(
                    "bare kiosk: provision it with `kiosk-provision --config "
                    f"{run_dir / 'agent' / 'agent.toml'} install ...` (docs/technician.md)"
                )
            print(
                'try: curl -X POST -d \'{"persona": "ayu"}\' '
                f"http://127.0.0.1:{port}/finger && "
                'curl -X POST -d \'{"persona": "ayu"}\' '
                f"http://127.0.0.1:{port}/card"
            )
            print("Ctrl-C stops everything.", flush=True)
            await stop.wait()
        finally:
            await runner.cleanup()
    return 0


async def _serve(devices: SimulatedDevices, control_port: int) -> int:
    runner, port = await start_control(devices, port=control_port)
    stop = _stop_event()
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
