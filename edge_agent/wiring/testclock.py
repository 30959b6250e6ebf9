"""For tests only: the agent's wall clock shifted, as on a kiosk whose clock nobody set.

`EDGE_AGENT_TEST_CLOCK_OFFSET_S` (seconds, signed) moves the clock the agent reads for
everything it decides by the time of day (signed documents' validity, the usage day until the
gateway's clock is known, health). It does not move OpenSSL's clock (certificate validity) nor
the monotonic one. Never set it on a kiosk: the agent logs a warning when it is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from edge_agent.errors import ConfigError

ENV = "EDGE_AGENT_TEST_CLOCK_OFFSET_S"
_log = logging.getLogger(__name__)


def shifted_wall(env: Mapping[str, str]) -> Callable[[], float] | None:
    """The wall clock moved by the environment's test offset, or None when it is not set."""
    raw = env.get(ENV, "").strip()
    if not raw:
        return None
    try:
        offset = float(raw)
    except ValueError:
        raise ConfigError(
            ENV, f"{raw!r} is not a number of seconds (a setting for tests)"
        ) from None
    _log.warning("TEST SETTING %s: the agent's wall clock is shifted by %+.0f s", ENV, offset)
    return lambda: time.time() + offset
