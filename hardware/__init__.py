"""hardware package: one small interface per device, pure codecs apart from I/O adapters.

Raw device traffic (APDUs, sensor packets) may hold personal data, so drivers log it only at
`TRAFFIC`, a level below DEBUG that is off by default. Check with `traffic_enabled(logger)`
before formatting a traffic line: the first time it finds the level switched on for a logger it
logs a loud warning.
"""

from __future__ import annotations

import logging
import threading

TRAFFIC = 5
"""Log level of raw device traffic, below DEBUG (10). Never switch it on in the field."""

logging.addLevelName(TRAFFIC, "TRAFFIC")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def traffic_enabled(logger: logging.Logger) -> bool:
    """True if `logger` logs TRAFFIC lines; warns loudly (once per logger) when it does."""
    if not logger.isEnabledFor(TRAFFIC):
        return False
    with _warned_lock:
        first = logger.name not in _warned
        _warned.add(logger.name)
    if first:
        logger.warning(
            "RAW DEVICE TRAFFIC LOGGING IS ON for %s: the log may now hold personal data "
            "(NIK, names, fingerprint templates). Switch it off and delete the log.",
            logger.name,
        )
    return True


def enable_traffic_logging(logger_name: str = "hardware") -> None:
    """Switch the TRAFFIC level on for a logger tree (bench and lab use only)."""
    logger = logging.getLogger(logger_name)
    logger.setLevel(TRAFFIC)
    traffic_enabled(logger)
