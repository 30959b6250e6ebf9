"""`kiosk-provision`: the technician's tool on the kiosk (see docs/technician.md).

    kiosk-provision --config agent.toml install --serial S --representative ID --location TEXT
        --technician-cert tech.pem --technician-key tech.key [--confirm-indicators]
    kiosk-provision --config agent.toml decommission --representative ID --reason TEXT
        --technician-cert tech.pem --technician-key tech.key [--return-to-service]
    kiosk-provision --config agent.toml status
    kiosk-provision exit-codes

Every run is resumable: the same command again skips the steps already finished.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from edge_agent.config import load_config
from edge_agent.errors import ConfigError
from provisioning import decommission as dec
from provisioning import handover, install, selftest
from provisioning.backends import Backends
from provisioning.errors import EXIT_CODES, EXIT_USAGE, ProvisionError, UsageError
from provisioning.mcu_keeper import McuKeeper
from provisioning.output import Reporter
from provisioning.runner import Step, run_steps
from provisioning.session import ConsolePrompter, JsonPrompter, Options, Prompter, Session
from provisioning.state import load
from provisioning.technician import load_technician

_log = logging.getLogger(__name__)

INSTALL: tuple[Step[Session], ...] = (
    Step("preflight", "Pemeriksaan awal", "Preflight", install.preflight),
    Step("enrol", "Enrolmen kios (kunci dan sertifikat)", "Enrol the kiosk", install.enrol),
    Step("bind_hardware", "Mengikat perangkat keras", "Bind the hardware", install.bind_hardware),
    Step("bind_sam", "Mengikat SAM ke kios", "Bind the SAM", install.bind_sam),
    Step("mcu_key", "Kunci MCU pengawas", "Supervisor MCU key", install.mcu_key),
    Step("selftest", "Uji diri", "Self-test", selftest.selftest),
    Step("handover", "Berita acara serah terima", "Handover record", handover.handover),
)
DECOMMISSION: tuple[Step[Session], ...] = (
    Step("unbind", "Melepas SAM dan perangkat", "Unbind the SAM and hardware", dec.unbind),
    Step("final_record", "Berita acara penarikan", "Final record", dec.final_record),
    Step("destroy_keys", "Memusnahkan kunci token", "Destroy the token's keys", dec.destroy_keys),
    Step("wipe", "Menghapus status dan log agen", "Wipe the agent's state and logs", dec.wipe),
)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    epilog = "exit codes:\n" + "\n".join(f"  {k:3d}  {v}" for k, v in EXIT_CODES.items())
    p = argparse.ArgumentParser(
        prog="kiosk-provision",
        description="Pemasangan dan penarikan kios di lokasi / install and decommission a kiosk"
        " on site (docs/technician.md)",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", default="/etc/kiosk/agent.toml", help="the agent's agent.toml")
    p.add_argument("--json", action="store_true", help="JSON Lines instead of text")
    p.add_argument("--verbose", action="store_true", help="log to stderr")
    sub = p.add_subparsers(dest="command", required=True)
    i = sub.add_parser("install", help="provision this kiosk (resumable)")
    i.add_argument("--serial", required=True, help="the serial on the kiosk's label")
    i.add_argument("--location", default="", help="where the kiosk stands (text)")
    i.add_argument("--confirm-indicators", action="store_true", help="lights/buzzer: no prompt")
    i.add_argument("--restart", action="store_true", help="forget an unfinished run first")
    i.add_argument(
        "--enrolment-token-file", type=Path, help="a token got beforehand (default: ask the fleet)"
    )
    d = sub.add_parser("decommission", help="take this kiosk out of service (resumable)")
    d.add_argument("--reason", default="decommission", help="why (text)")
    d.add_argument("--return-to-service", action="store_true", help="after a tamper: reprovision")
    d.add_argument("--location", default="", help="where the kiosk stands (text)")
    d.add_argument("--log-dir", action="append", default=[], type=Path, help="logs to wipe")
    for q in (i, d):
        q.add_argument("--representative", required=True, help="institution's staff id")
        q.add_argument("--technician-cert", required=True, type=Path)
        q.add_argument("--technician-key", required=True, type=Path)
        q.add_argument("--technician-passphrase-file", type=Path)
        q.add_argument("--technician-token-module", type=Path, help="default: the kiosk's")
    sub.add_parser("status", help="the steps finished so far")
    sub.add_parser("exit-codes", help="what each exit code means")
    return p


async def run(
    args: argparse.Namespace,
    *,
    backends: Backends | None = None,
    prompt: Prompter | None = None,
    stream: TextIO | None = None,
    wall: Callable[[], float] = time.time,
) -> int:
    """Run one command; the exit code (`wall`: the kiosk's clock, for tests)."""
    out = Reporter(json_lines=args.json, stream=stream)
    if args.command == "exit-codes":
        for code, text in EXIT_CODES.items():
            out.result({"exit_code": code, "meaning": text}, f"{code:3d}  {text}")
        return 0
    try:
        config = load_config(args.config)
        if config.state is None:
            raise UsageError(
                "NO_STATE_DIR",
                f"{args.config} tidak punya [state] dir: tambahkan folder status agen.",
                f"{args.config} has no [state] dir: add the agent's state folder.",
                exit_code=EXIT_USAGE,
            )
        if args.command == "status":
            for kind in ("install", "decommission"):
                state = load(config.state.dir, kind)
                out.result(
                    {"kind": kind, "steps": state.steps},
                    f"{kind}: " + (", ".join(state.steps) or "-"),
                )
            return 0
        state = load(config.state.dir, args.command)
        if getattr(args, "restart", False):
            state.steps.clear()
        ident = config.identity
        tech = load_technician(
            args.technician_cert,
            args.technician_key,
            passphrase_file=args.technician_passphrase_file,
            token_module=args.technician_token_module or (ident.token_module if ident else None),
        )
        reason = args.reason if args.command == "decommission" else ""
        back = args.command == "decommission" and args.return_to_service
        if back:
            reason = f"{dec.RETURN_TO_SERVICE}: {reason}"
        options = Options(
            serial=getattr(args, "serial", ""),
            location=args.location,
            representative=args.representative,
            confirm_indicators=getattr(args, "confirm_indicators", False),
            reason=reason[:200],
            return_to_service=back,
            log_dirs=tuple(getattr(args, "log_dir", ())),
            enrolment_token_file=getattr(args, "enrolment_token_file", None),
        )
        session = Session(
            config,
            options,
            tech,
            state,
            out,
            prompt or (JsonPrompter(out) if args.json else ConsolePrompter()),
            backends or Backends(),
            wall,
        )
        steps = INSTALL if args.command == "install" else DECOMMISSION
        if config.supervisor is not None:  # the agent is stopped: the tool heartbeats
            session.keeper = McuKeeper(session.backends.supervisor, config)
            session.keeper.start()
        try:
            code = await run_steps(session, steps, state, out)
        finally:
            if session.keeper is not None:
                await asyncio.to_thread(session.keeper.stop)
        if code == 0 and args.command == "decommission":
            state.remove()
        return code
    except ConfigError as err:
        failure: ProvisionError = UsageError(
            "CONFIG",
            f"Konfigurasi agen tidak dapat dipakai: {err}",
            f"The agent's configuration cannot be used: {err}",
        )
    except ProvisionError as err:
        failure = err
    out.failed(args.command, failure)
    return failure.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """The console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        print("Dihentikan; jalankan lagi untuk melanjutkan. / Stopped; run again to continue.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
