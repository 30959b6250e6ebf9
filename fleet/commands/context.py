"""What every command shares: the configuration (read once, on first use), the fleet tool, the
store, the operations over both, and output as text or JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from fleet.actions import Fleet, Progress
from fleet.config import FleetConfig, load_config
from fleet.errors import EXIT_USAGE, FleetError
from fleet.operations import Operations
from fleet.store import FleetStore, StoreError, open_store
from protocol.signed import MAX_REASON_CHARS

CONFIG_ENV = "KIOSK_FLEET_CONFIG"


def config_path(arg: Path | None) -> Path:
    """--config, else $KIOSK_FLEET_CONFIG, else ./fleet.toml."""
    if arg is not None:
        return arg
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path("fleet.toml")


class Context:
    """The parsed arguments and what the command opens on demand (closed by `close`)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.config_path = config_path(getattr(args, "config", None))
        self._config: FleetConfig | None = None
        self._fleet: Fleet | None = None
        self._store: FleetStore | None = None

    @property
    def config(self) -> FleetConfig:
        """fleet.toml, read on first use."""
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def fleet(self) -> Fleet:
        """The broker, gateway and signing side."""
        if self._fleet is None:
            self._fleet = Fleet(self.config)
        return self._fleet

    @property
    def store(self) -> FleetStore:
        """The fleet store ([store] of fleet.toml)."""
        if self._store is None:
            try:
                self._store = open_store(self.config.store)
            except StoreError as err:
                raise FleetError(f"the store ([store] in {self.config.source}): {err}") from err
        return self._store

    @property
    def ops(self) -> Operations:
        """Admin actions with the registry and the audit trail."""
        return Operations(self.fleet, self.store)

    def close(self) -> None:
        """Close the store."""
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def json(self) -> bool:
        """--json was given."""
        return bool(getattr(self.args, "json", False))

    def emit(self, obj: Any, text: str) -> None:
        """Print JSON (with --json) or text."""
        print(json.dumps(obj, indent=2, sort_keys=False) if self.json else text)

    def progress(self) -> Progress:
        """A progress line on stderr (rewritten in place on a terminal, at most 5 a second)."""
        last = [0.0]
        tty = sys.stderr.isatty()

        def show(done: int, total: int) -> None:
            now = time.monotonic()
            if done < total and now - last[0] < 0.2:
                return
            last[0] = now
            if tty:
                end = "\n" if done == total else ""
                print(f"\r  {done}/{total} kiosks reported", end=end, file=sys.stderr, flush=True)
            elif done == total:
                print(f"  {done}/{total} kiosks reported", file=sys.stderr)

        return show


def add_json(parser: argparse.ArgumentParser) -> None:
    """The --json flag."""
    parser.add_argument("--json", action="store_true", help="print JSON")


def check_reason(reason: str) -> str:
    """A reason fits the signed document: printable, at most MAX_REASON_CHARS."""
    if len(reason) > MAX_REASON_CHARS or not reason.isprintable():
        raise FleetError(
            f"--reason must be printable and at most {MAX_REASON_CHARS} characters", EXIT_USAGE
        )
    return reason


def iso(ts: int | None) -> str:
    """A Unix time as UTC ISO 8601 ("-" for none)."""
    return "-" if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
