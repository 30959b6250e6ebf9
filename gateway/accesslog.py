"""The access log: one line per request with ids, status, outcome and durations, nothing else.

Lines are formatted from a fixed set of fields (device id, institution id, request id, outcome
code: all validated identifiers), buffered in memory and written about once a second, like
nginx's `access_log ... buffer=`. Without a file they go to the `gateway.access` logger.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import TextIO

from common.tasks import cancel_and_wait

ACCESS = logging.getLogger("gateway.access")
_FLUSH_BYTES = 64 * 1024


class AccessLog:
    """Buffered access-log writer."""

    def __init__(self, path: Path | None, flush_s: float = 1.0) -> None:
        self._path = path
        self._flush_s = flush_s
        self._lines: list[str] = []
        self._size = 0
        self._file: TextIO | None = None
        self._task: asyncio.Task[None] | None = None
        self._second = -1
        self._stamp = ""

    def open(self) -> None:
        """Open the file (owner and group may read) and start the periodic flush."""
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
            self._task = asyncio.create_task(self._run(), name="gateway-access-log")

    def write(
        self,
        endpoint: str,
        device: str,
        institution: str,
        request_id: str,
        status: int,
        outcome: str,
        ms: float,
        upstream_ms: float,
    ) -> None:
        """Add one line."""
        if self._file is None:
            ACCESS.info(
                "%s device=%s institution=%s request_id=%s status=%d outcome=%s ms=%.2f "
                "upstream_ms=%.2f",
                endpoint,
                device,
                institution,
                request_id,
                status,
                outcome,
                ms,
                upstream_ms,
            )
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        line = (
            f"{self._stamp}.{int((now - second) * 1000):03d}Z {endpoint} device={device} "
            f"institution={institution} request_id={request_id} status={status} "
            f"outcome={outcome} ms={ms:.2f} upstream_ms={upstream_ms:.2f}\n"
        )
        self._lines.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write buffered lines."""
        if self._file is None or not self._lines:
            return
        lines, self._lines, self._size = self._lines, [], 0
        try:
            self._file.write("".join(lines))
            self._file.flush()
        except OSError as err:
            logging.getLogger(__name__).error("access log write failed: %s", err.strerror)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            self.flush()

    async def close(self) -> None:
        """Flush and close."""
        await cancel_and_wait(self._task)
        self._task = None
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
