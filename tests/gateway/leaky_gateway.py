"""A deliberately leaking gateway build, for the privacy test only.

`python -m tests.gateway.leaky_gateway --config ...` runs the real CLI after patching the relay
to log each NIK in plain text and each answer body in base64: the canary scan must catch both.
Never use it anywhere else.
"""

from __future__ import annotations

import base64
import logging
import sys
from typing import Any

from gateway import cli
from gateway.relay import Relay

_decide = Relay._decide
_leak = logging.getLogger("gateway.leak")


async def _leaky_decide(self: Relay, *args: Any) -> Any:
    answer = await _decide(self, *args)
    req = args[2]
    _leak.warning("LEAK nik=%s body=%s", req.nik, base64.b64encode(answer.body).decode())
    return answer


Relay._decide = _leaky_decide  # type: ignore[method-assign,assignment]

if __name__ == "__main__":
    sys.exit(cli.main())
