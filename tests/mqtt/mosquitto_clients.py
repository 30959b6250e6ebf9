"""mosquitto's own clients (Debian's mosquitto-clients) and `openssl s_client`, driven by tests.

Each run has a deadline; a subscriber is used only once the broker has acknowledged its
subscription (its debug output says so), and a test learns what it received when it has received
as many messages as it asked for (or its -W timeout ended it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk_sim.device_token import device_env
from kiosk_sim.pki import Issued
from tests.mqtt.fixtures import WAIT

MSG = "MSG "  # prefix of a received message in the subscribers' output (-F)
_PUBACK = re.compile(r"received PUBACK \(Mid: \d+, RC:(\d+)\)")
NOT_AUTHORIZED = 0x87


def require(tool: str) -> str:
    """The path of a command-line tool, or fail the test saying which package provides it."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: run scripts/install-debian-packages.sh")
    return path


@dataclass(frozen=True, slots=True)
class Run:
    """A finished command: exit status and output (stdout and stderr together)."""

    returncode: int
    output: str

    def puback_reasons(self) -> list[int]:
        """The reason codes of the PUBACKs the client received (its -d output)."""
        return [int(code) for code in _PUBACK.findall(self.output)]

    def messages(self) -> list[tuple[str, str]]:
        """(topic, payload) of every message a subscriber printed, in order."""
        found = []
        for line in self.output.splitlines():
            if line.startswith(MSG):
                topic, _, payload = line[len(MSG) :].partition(" ")
                found.append((topic, payload))
        return found


async def run(*argv: str, timeout: float = WAIT) -> Run:
    """Run a command to its end (killed after `timeout`)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(errors="replace"))


class Running:
    """A client still running: wait for a line of its output, then for its end."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def wait_for_line(self, needle: str, timeout: float = WAIT) -> str:
        """The first line (from the start) that contains `needle`."""
        for line in self.lines:
            if needle in line:
                return line
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"ended before {needle!r}: {self.lines[-5:]}")
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(line)
                if needle in line:
                    return line

    async def result(self, timeout: float = WAIT + 5) -> Run:
        """Wait for its end: all it printed."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            rest = await self.proc.stdout.read()
            await self.proc.wait()
        lines = [*self.lines, *rest.decode(errors="replace").splitlines()]
        assert self.proc.returncode is not None
        return Run(self.proc.returncode, "\n".join(lines))


class MosquittoClients:
    """mosquitto_pub, mosquitto_sub and mosquitto_rr against one listener with one certificate."""

    def __init__(self, port: int, ca_file: Path, issued: Issued, version: str = "5") -> None:
        self.port = port
        self.ca_file = ca_file
        self.issued = issued
        self.version = version  # "5" or "311"

    def _common(self) -> list[str]:
        return [
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--cafile",
            str(self.ca_file),
            "--cert",
            str(self.issued.cert),
            "--key",
            str(self.issued.key),
            "-V",
            self.version,
            "-q",
            "1",
            "-d",
        ]

    async def publish(self, topic: str, payload: str | None, *, retain: bool = False) -> int:
        """Publish at QoS 1 (None: an empty payload); the PUBACK's reason code."""
        argv = [require("mosquitto_pub"), *self._common(), "-t", topic]
        argv += ["-n"] if payload is None else ["-m", payload]
        if retain:
            argv.append("-r")
        done = await run(*argv)
        assert done.returncode == 0, done.output
        reasons = done.puback_reasons()
        assert len(reasons) == 1, done.output
        return reasons[0]

    @contextlib.asynccontextmanager
    async def subscribed(self, filters: list[str], count: int) -> AsyncIterator[Running]:
        """mosquitto_sub on `filters` for `count` messages, yielded once the broker acked it."""
        argv = [require("mosquitto_sub"), *self._common(), "-F", MSG + "%t %p"]
        argv += ["-C", str(count), "-W", str(int(WAIT))]
        for f in filters:
            argv += ["-t", f]
        async with _started(argv) as running:
            await running.wait_for_line("received SUBACK")
            yield running

    @contextlib.asynccontextmanager
    async def request(
        self, topic: str, response_topic: str, payload: str
    ) -> AsyncIterator[Running]:
        """mosquitto_rr: subscribe to `response_topic`, publish to `topic`, await one message."""
        argv = [require("mosquitto_rr"), *self._common(), "-F", MSG + "%t %p"]
        argv += ["-W", str(int(WAIT)), "-t", topic, "-e", response_topic, "-m", payload]
        async with _started(argv) as running:
            yield running


@contextlib.asynccontextmanager
async def _started(argv: list[str]) -> AsyncIterator[Running]:
    # line-buffered stdout: its output reaches the test when printed, not when it ends
    proc = await asyncio.create_subprocess_exec(
        require("stdbuf"),
        "-oL",
        *argv,
        env=_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield Running(proc)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def s_client(port: int, ca_file: Path, issued: Issued, *options: str) -> Run:
    """`openssl s_client` to a listener with a client certificate: handshake, then EOF."""
    return await run(
        require("openssl"),
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        "localhost",
        "-CAfile",
        str(ca_file),
        "-cert",
        str(issued.cert),
        "-key",
        str(issued.key),
        *options,
    )


def _env() -> dict[str, str]:
    """The clients' environment: pkcs11-provider for the kiosk keys in the devices token."""
    return {**os.environ, **device_env()}
