"""Logging of the gateway: an access log, a main log (errors, warnings, security events).

Log lines carry device, institution, request id, outcome and durations; never a body or a NIK.
Exception messages can carry data, so tracebacks are written with exception types and code
locations only. The access log file itself is written by gateway.accesslog.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType

from gateway.config import LoggingConfig

ACCESS = logging.getLogger("gateway.access")
SECURITY = logging.getLogger("gateway.security")
_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class SafeFormatter(logging.Formatter):
    """A formatter whose tracebacks show types and locations, never exception messages."""

    def formatException(self, ei: ExcInfo) -> str:
        """Exception chain as types and frames."""
        _, exc, _ = ei
        lines: list[str] = []
        seen: set[int] = set()
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            lines.append(f"{type(exc).__module__}.{type(exc).__qualname__} (message withheld)")
            for frame in traceback.extract_tb(exc.__traceback__):
                lines.append(f"  at {frame.filename}:{frame.lineno} in {frame.name}")
            exc = exc.__cause__ or exc.__context__
        return "\n".join(lines)

    def formatStack(self, stack_info: str) -> str:
        """Stacks carry no data; kept as they are."""
        return stack_info


def _handler(path: Path | None) -> logging.Handler:
    if path is None:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o640))
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(SafeFormatter(_FORMAT))
    return handler


def setup_logging(cfg: LoggingConfig) -> None:
    """Route the gateway's loggers (and aiohttp's) to the configured files."""
    main = _handler(cfg.main)
    gateway = logging.getLogger("gateway")
    gateway.handlers[:] = [main]
    gateway.setLevel(cfg.level)
    gateway.propagate = False
    # The access log file is written by gateway.accesslog; without one, lines go here.
    ACCESS.handlers[:] = [_handler(None)] if cfg.access is None else []
    ACCESS.setLevel(logging.INFO)
    ACCESS.propagate = False
    for name in ("aiohttp", "asyncio", "redis"):
        other = logging.getLogger(name)
        other.handlers[:] = [main]
        other.setLevel(logging.WARNING)
        other.propagate = False
    logging.getLogger("aiohttp.access").disabled = True
