"""The fleet service of a simulation: `kiosk-fleet serve` as its own process on the run folder's
fleet.toml (SQLite beside it), started and stopped like a systemd service would be."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from pathlib import Path

_READY = re.compile(r"^kiosk-fleet serve: ready\b.*?(?:; dashboard (\S+))?$")


class FleetServiceError(RuntimeError):
    """The fleet service did not start."""


class FleetServiceProcess:
    """`python -m fleet --config FLEET_TOML serve`; its log goes to `log_path`."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.dashboard_url: str | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the process runs."""
        return self._proc is not None and self._proc.returncode is None

    async def start(self, timeout: float = 30.0) -> None:
        """Start it and wait for its ready line (subscribed at the broker)."""
        if self.running:
            return
        with self.log_path.open("ab") as log:
            proc = self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "fleet",
                "--config",
                str(self.config),
                "serve",
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = (await proc.stdout.readline()).decode(errors="replace").strip()
                    if not line:
                        raise FleetServiceError(
                            f"kiosk-fleet serve exited with {await proc.wait()}; "
                            f"see {self.log_path}"
                        )
                    m = _READY.match(line)
                    if m is not None:
                        self.dashboard_url = m.group(1)
                        return
        except TimeoutError:
            await self.stop()
            raise FleetServiceError(
                f"kiosk-fleet serve not ready within {timeout:g} s; see {self.log_path}"
            ) from None

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (a clean stop: what it received is written), SIGKILL after `timeout`."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return None if proc is None else proc.returncode
        proc.terminate()
        try:
            async with asyncio.timeout(timeout):
                return await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            return await proc.wait()
