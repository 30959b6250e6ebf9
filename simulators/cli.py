"""`kiosk-sim`: start the simulated devices and run the demo."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of kiosk-sim."""
    print("kiosk-sim: not yet wired", file=sys.stderr)
    return 2
