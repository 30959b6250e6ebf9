"""`make bench`: every benchmark in turn (`python -m bench [NAME ...]`), or one benchmark with its
own options (`python -m bench NAME --help`, `python -m bench gateway_relay --repeat 1`)."""

from __future__ import annotations

import importlib
import sys

BENCHES = (
    "card_read",
    "agent_session",
    "agent_soak",
    "gateway_relay",
    "mqtt_traffic",
    "fleet_store",
    "fleet_ingest",
    "fleet_bulk",
    "fleet_dashboard",
    "report_generation",
    "ca_enrolment",
    "token_tls",
)


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all by default); non-zero if any missed its target."""
    first_option = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, options = argv[:first_option] or list(BENCHES), argv[first_option:]
    if options and len(names) != 1:
        print("python -m bench: options go to one named benchmark", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        print(f"== bench.{name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        saved, sys.argv = sys.argv, [f"bench.{name}", *options]
        try:
            failed += int(module.main() != 0)
        finally:
            sys.argv = saved
        print(flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
