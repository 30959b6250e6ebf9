"""`kiosk-fleet serve` and `kiosk-fleet alerts`: their parsers and what they run.

kiosk-fleet serve                     # the fleet service until SIGTERM (kiosk-fleet.service)
kiosk-fleet alerts [--all] [--json]   # open alerts (--all: cleared ones too), with deliveries
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from typing import Any

from fleet.config import FleetConfig
from fleet.store import StoreError, open_store
from fleet.store.base import Alert

COMMANDS = ("serve", "alerts")


def add_parsers(sub: Any) -> None:
    """Add `serve` and `alerts` to kiosk-fleet's subcommands."""
    s = sub.add_parser("serve", help="run the fleet service (ingest, alerts, webhook, dashboard)")
    s.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    s.add_argument(
        "--retire",
        action="store_true",
        help="retire this replica: leave the group, store what its session holds, end it",
    )
    a = sub.add_parser("alerts", help="alerts from the fleet service's store")
    a.add_argument("--all", action="store_true", help="cleared alerts too")
    a.add_argument("--json", action="store_true", help="JSON (one array of objects)")
    for parser in (s, a):
        parser.set_defaults(func=lambda ctx: run(ctx.args, ctx.config))


def run(args: argparse.Namespace, config: FleetConfig) -> int:
    """Run `serve` or `alerts`."""
    if args.command == "serve":
        return _serve(config, args.log_level, retiring=args.retire)
    return _alerts(config, show_all=args.all, as_json=args.json)


def _serve(config: FleetConfig, level: str, *, retiring: bool = False) -> int:
    from fleet.service.process import FleetService, retire, serve

    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    def ready(service: FleetService) -> None:
        web = f"; dashboard {service.web.url}" if service.web is not None else ""
        s = config.service.service
        print(
            f"kiosk-fleet serve: ready as {s.client_id} in group {s.group}, "
            f"store {config.store.backend}{web}",
            flush=True,
        )

    if retiring:
        count = asyncio.run(retire(config))
        s = config.service.service
        print(f"kiosk-fleet serve: {s.client_id} retired: {count} messages stored, session ended")
        return 0
    return asyncio.run(serve(config, ready=ready))


def _time(at: int | None) -> str:
    if at is None:
        return "-"
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def alert_json(a: Alert) -> dict[str, Any]:
    """An alert as `alerts --json` prints it."""
    return {
        "key": a.key,
        "kind": a.kind.value,
        "target": a.target,
        "detail": a.detail,
        "raised_at": a.raised_at,
        "cleared_at": a.cleared_at,
        "deliveries": a.deliveries,
        "delivery_failures": a.delivery_failures,
        "last_delivery_error": a.last_delivery_error,
    }


def format_alerts(alerts: list[Alert]) -> str:
    """The alerts as a table."""
    head = ("KIND", "TARGET", "RAISED", "CLEARED", "WEBHOOK", "DETAIL")
    rows = [
        (
            a.kind.value,
            a.target,
            _time(a.raised_at),
            _time(a.cleared_at),
            f"{a.deliveries} ok, {a.delivery_failures} failed"
            + (f" ({a.last_delivery_error})" if a.last_delivery_error else ""),
            a.detail,
        )
        for a in alerts
    ]
    if not rows:
        return "no alerts"
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    lines = []
    for r in [head, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return "\n".join(line.rstrip() for line in lines)


def _alerts(config: FleetConfig, *, show_all: bool, as_json: bool) -> int:
    from fleet.errors import FleetError

    try:
        store = open_store(config.store)
        try:
            alerts = store.alerts(open_only=not show_all)
        finally:
            store.close()
    except StoreError as err:
        raise FleetError(f"the {config.store.backend} store: {err}") from err
    if as_json:
        print(json.dumps([alert_json(a) for a in alerts], indent=2, ensure_ascii=False))
    else:
        print(format_alerts(alerts))
    return 0
