"""What a health report is made of: device probes, the gateway's round trip, the machine.

Every probe is optional and never raises: a probe that cannot tell says `unknown` (or None).
Device probes are blocking and run in an executor thread, and only while no session runs (the
fingerprint module's own lock keeps a probe and a session from overlapping anyway).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from protocol.mqtt import DeviceStatus

_log = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0
_THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
_MEMINFO = Path("/proc/meminfo")

ReaderProbe = Callable[[], tuple[DeviceStatus, DeviceStatus]]
SensorProbe = Callable[[], DeviceStatus]
GatewayProbe = Callable[[], Awaitable[tuple[bool | None, float | None]]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One round of probes."""

    reader: DeviceStatus = DeviceStatus.UNKNOWN
    sam: DeviceStatus = DeviceStatus.UNKNOWN
    sensor: DeviceStatus = DeviceStatus.UNKNOWN
    gateway_reachable: bool | None = None
    gateway_rtt_ms: float | None = None
    cert_days_left: int | None = None
    cpu_temp_c: float | None = None
    mem_used_pct: float | None = None
    disk_free_pct: float | None = None
    mcu: tuple[bool, int | None, bool] | None = None  # link up, Pi power cycles, tamper latch
    missing: tuple[str, ...] = ()  # configured devices missing or silent (wiring/devicecheck)


def pcsc_probe(card_reader: str, sam_reader: str) -> ReaderProbe:
    """Reader and SAM through PC/SC: the card reader listed; the SAM reader listed with a card."""

    def probe() -> tuple[DeviceStatus, DeviceStatus]:
        try:
            from smartcard.scard import (
                SCARD_S_SUCCESS,
                SCARD_SCOPE_USER,
                SCARD_STATE_PRESENT,
                SCARD_STATE_UNAWARE,
                SCardEstablishContext,
                SCardGetStatusChange,
                SCardListReaders,
                SCardReleaseContext,
            )
        except ImportError:
            return DeviceStatus.UNKNOWN, DeviceStatus.UNKNOWN
        try:
            hresult, context = SCardEstablishContext(SCARD_SCOPE_USER)
            if hresult != SCARD_S_SUCCESS:
                return DeviceStatus.FAULT, DeviceStatus.FAULT
            try:
                hresult, names = SCardListReaders(context, [])
                names = list(names) if hresult == SCARD_S_SUCCESS else []
                card = next((n for n in names if card_reader.casefold() in n.casefold()), None)
                sam = next((n for n in names if sam_reader.casefold() in n.casefold()), None)
                reader_status = DeviceStatus.OK if card else DeviceStatus.MISSING
                if sam is None:
                    return reader_status, DeviceStatus.MISSING
                hresult, states = SCardGetStatusChange(context, 0, [(sam, SCARD_STATE_UNAWARE)])
                present = hresult == SCARD_S_SUCCESS and bool(states[0][1] & SCARD_STATE_PRESENT)
                return reader_status, DeviceStatus.OK if present else DeviceStatus.MISSING
            finally:
                SCardReleaseContext(context)
        except Exception as err:  # pyscard raises its own error types
            _log.debug("PC/SC probe failed: %s", type(err).__name__)
            return DeviceStatus.FAULT, DeviceStatus.FAULT

    return probe


def module_probe(module: Any) -> SensorProbe | None:
    """The fingerprint module answers ReadSysPara (None if the port cannot be asked)."""
    read = getattr(module, "read_system_parameters", None)
    if not callable(read):
        return None

    def probe() -> DeviceStatus:
        try:
            read()
        except Exception as err:  # any SensorError or a port failure
            _log.debug("fingerprint module probe failed: %s", type(err).__name__)
            return DeviceStatus.FAULT
        return DeviceStatus.OK

    return probe


class GatewayPing:
    """GET /v1/health on the gateway with the device's TLS context: reachable, round trip."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext, timeout: float = PROBE_TIMEOUT):
        self._url = url.rstrip("/") + "/v1/health"
        self._ctx = ssl_context
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self) -> tuple[bool | None, float | None]:
        """(reachable, round trip in ms)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ctx, limit=1),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        t0 = time.perf_counter()
        try:
            async with self._session.get(self._url) as resp:
                await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            _log.debug("gateway health probe failed: %s", type(err).__name__)
            return False, None
        return True, (time.perf_counter() - t0) * 1000

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def use_tls(self, ssl_context: ssl.SSLContext) -> None:
        """Probe with `ssl_context` from now on (a renewed identity)."""
        await self.close()
        self._ctx = ssl_context


def cert_days_left(cert_file: Path | None, now: float) -> int | None:
    """Whole days until the certificate expires (negative once expired), or None."""
    if cert_file is None:
        return None
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return None
    left = cert.not_valid_after_utc - dt.datetime.fromtimestamp(now, dt.UTC)
    return left.days


def cpu_temperature(path: Path = _THERMAL) -> float | None:
    """The SoC temperature in °C, or None where the kernel does not tell."""
    try:
        return int(path.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def memory_used_pct(path: Path = _MEMINFO) -> float | None:
    """Memory in use (total minus available) in percent, or None."""
    try:
        fields = dict(
            (line.split(":")[0], int(line.split()[1]))
            for line in path.read_text().splitlines()
            if line.startswith(("MemTotal:", "MemAvailable:"))
        )
        total, available = fields["MemTotal"], fields["MemAvailable"]
    except (OSError, ValueError, KeyError, IndexError):
        return None
    return 100.0 * (total - available) / total if total else None


def disk_free_pct(path: Path | None) -> float | None:
    """Free space of the file system holding `path`, in percent, or None."""
    if path is None:
        return None
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    return 100.0 * usage.free / usage.total if usage.total else None


class HealthProbes:
    """Runs every probe and returns a Snapshot."""

    def __init__(
        self,
        *,
        reader: ReaderProbe | None = None,
        sensor: SensorProbe | None = None,
        gateway: GatewayProbe | None = None,
        cert_file: Path | None = None,
        disk_path: Path | None = None,
        idle: Callable[[], bool] = lambda: True,
    ) -> None:
        self._reader = reader
        self._sensor = sensor
        self._gateway = gateway
        self._cert_file = cert_file
        self._disk_path = disk_path
        self._idle = idle
        self._last = Snapshot()
        # the supervisor MCU's link state, set once its link is open (no I/O: last known)
        self.mcu: Callable[[], tuple[bool, int | None, bool]] | None = None
        # the devices the agent's device check found missing (no I/O: last known)
        self.missing: Callable[[], tuple[str, ...]] | None = None

    @property
    def gateway(self) -> GatewayProbe | None:
        """The gateway probe (a GatewayPing in the agent)."""
        return self._gateway

    async def close(self) -> None:
        """Close what the probes hold open (the gateway probe's HTTP client)."""
        close = getattr(self._gateway, "close", None)
        if close is not None:
            await close()

    async def snapshot(self, now: float) -> Snapshot:
        """Probe what can be probed now; devices keep their last status during a session."""
        reader, sam, sensor = self._last.reader, self._last.sam, self._last.sensor
        if self._idle():
            if self._reader is not None:
                reader, sam = await _blocking(self._reader, (DeviceStatus.FAULT,) * 2)
            if self._sensor is not None:
                sensor = await _blocking(self._sensor, DeviceStatus.FAULT)
        reachable: bool | None = None
        rtt: float | None = None
        if self._gateway is not None:
            try:
                async with asyncio.timeout(PROBE_TIMEOUT + 1):
                    reachable, rtt = await self._gateway()
            except TimeoutError:
                reachable, rtt = False, None
        self._last = Snapshot(
            reader=reader,
            sam=sam,
            sensor=sensor,
            gateway_reachable=reachable,
            gateway_rtt_ms=rtt,
            cert_days_left=cert_days_left(self._cert_file, now),
            cpu_temp_c=cpu_temperature(),
            mem_used_pct=memory_used_pct(),
            disk_free_pct=disk_free_pct(self._disk_path),
            mcu=None if self.mcu is None else self.mcu(),
            missing=() if self.missing is None else self.missing(),
        )
        return self._last


async def _blocking(fn: Callable[[], Any], failed: Any) -> Any:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            return await asyncio.to_thread(fn)
    except TimeoutError:
        return failed
