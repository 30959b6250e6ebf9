"""Process hygiene: the NIK filter, sd_notify over a real datagram socket."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.hygiene import (
    NikMaskFilter,
    Notifier,
    install_log_filter,
    mask_niks,
    sd_notify,
    watchdog_interval,
    watchdog_loop,
)
from simulators.personas import PERSONAS
from tests.clock import FakeClock

NIK = PERSONAS["bagas"].nik


def test_mask_niks_masks_only_runs_of_sixteen_digits() -> None:
    assert mask_niks(f"nik {NIK}.") == (f"nik {NIK[:4]}{'*' * 12}.", 1)
    assert mask_niks("request 0123456789abcdef0123456789abcdef, 15 digits 123456789012345") == (
        "request 0123456789abcdef0123456789abcdef, 15 digits 123456789012345",
        0,
    )
    assert mask_niks("17 digits 12345678901234567")[1] == 0
    assert mask_niks(f"{NIK} and {NIK}")[1] == 2


def _logger_with_filter() -> tuple[logging.Logger, NikMaskFilter, list[str]]:
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = ListHandler()
    nik_filter = install_log_filter(handler)
    assert install_log_filter(handler) is nik_filter  # once per handler
    logger = logging.getLogger("tests.hygiene.filter")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, nik_filter, lines


def test_filter_masks_arguments_messages_and_tracebacks() -> None:
    logger, nik_filter, lines = _logger_with_filter()
    logger.info("clean line %s", "RDR-0001")
    assert nik_filter.hits == 0
    logger.info("oops %s", NIK)
    logger.warning(f"oops again {NIK}")  # noqa: G004 (the mistake the filter is for)
    try:
        raise ValueError(f"bad {NIK}")
    except ValueError:
        logger.exception("failed")
    assert nik_filter.hits == 3
    text = "\n".join(lines)
    assert NIK not in text
    assert text.count(NIK[:4] + "*" * 12) == 3


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, {"NOTIFY_SOCKET": str(path)}
    sock.close()


def test_sd_notify_sends_a_datagram(notify_socket: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = notify_socket
    assert sd_notify("READY=1", env)
    assert sock.recv(4096) == b"READY=1"


def test_sd_notify_to_an_abstract_socket() -> None:
    name = f"kiosk-agent-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        assert sd_notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_sd_notify_without_a_socket_does_nothing(tmp_path: Path) -> None:
    assert not sd_notify("READY=1", {})
    assert not sd_notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "absent.sock")})


def test_watchdog_interval_is_half_the_timeout() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "10000000"}
    assert watchdog_interval(env) == 5.0
    assert watchdog_interval({**env, "WATCHDOG_PID": str(os.getpid())}) == 5.0
    assert watchdog_interval({**env, "WATCHDOG_PID": "1"}) is None  # another process's
    assert watchdog_interval({"WATCHDOG_USEC": "10000000"}) is None
    assert watchdog_interval({**env, "WATCHDOG_USEC": "soon"}) is None


async def _recv(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    async with asyncio.timeout(5):
        return await asyncio.get_running_loop().sock_recv(sock, 4096)


async def test_watchdog_pings_follow_the_clock(
    notify_socket: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = notify_socket
    clock = FakeClock()
    task = asyncio.create_task(watchdog_loop(clock, 5.0, env))
    try:
        assert await _recv(sock) == b"WATCHDOG=1"
        await clock.wait_sleeping(5.0)
        clock.advance(5.0)
        assert await _recv(sock) == b"WATCHDOG=1"
    finally:
        task.cancel()


async def test_notifier_ready_starts_the_watchdog_and_stopping_ends_it(
    notify_socket: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = notify_socket
    clock = FakeClock()
    notifier = Notifier(clock, {**env, "WATCHDOG_USEC": "2000000"})
    notifier.ready("ready in 12 ms")
    assert await _recv(sock) == b"READY=1\nSTATUS=ready in 12 ms"
    assert await _recv(sock) == b"WATCHDOG=1"
    await clock.wait_sleeping(1.0)
    await notifier.stopping()
    assert await _recv(sock) == b"STOPPING=1"
    assert clock.sleeping() == []
