"""`make bench`: every benchmark in turn (`python -m bench [NAME ...]`)."""

from __future__ import annotations

import importlib
import sys

BENCHES = ("card_read", "agent_session", "gateway_relay", "mqtt_traffic")


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all by default); non-zero if any missed its target."""
    failed = 0
    for name in argv or BENCHES:
        print(f"== bench.{name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        saved, sys.argv = sys.argv, [f"bench.{name}"]
        try:
            failed += int(module.main() != 0)
        finally:
            sys.argv = saved
        print(flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
