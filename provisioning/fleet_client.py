"""The tool's HTTPS client of the fleet service: enrolment tokens, handover records, its time.

TLS with the technician's certificate (or the kiosk's, once enrolled), trusting [identity]
est_ca_file. Every failure is a ProvisionError of the step's kind: `retry` when the service was
unreachable or busy (running the command again continues), not when it refused.
"""

from __future__ import annotations

import email.utils
import json
import logging
import ssl
from typing import Any

import aiohttp

from provisioning.errors import ProvisionError

_log = logging.getLogger(__name__)

MAX_ANSWER = 4 * 1024 * 1024  # a handover PDF


class FleetClient:
    """The fleet service at `base_url` (https://host:port), through `ctx`."""

    def __init__(self, base_url: str, ctx: ssl.SSLContext, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._ctx = ctx
        self._timeout = timeout

    async def request(
        self, method: str, path: str, error: type[ProvisionError], body: Any = None
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request; (status, body, headers); `error` for an unreachable service.

        A connection that fails mid-way (reset, a TLS alert) is tried once more: every request
        of the tool may be repeated (records and escrow are idempotent at the fleet service).
        """
        try:
            return await self._once(method, path, error, body)
        except ProvisionError as err:
            if not isinstance(err.__cause__, aiohttp.ClientOSError):
                raise
        return await self._once(method, path, error, body)

    async def _once(
        self, method: str, path: str, error: type[ProvisionError], body: Any
    ) -> tuple[int, bytes, dict[str, str]]:
        url = self.base_url + path
        try:
            async with (
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(ssl=self._ctx),
                    timeout=aiohttp.ClientTimeout(total=self._timeout),
                    cookie_jar=aiohttp.DummyCookieJar(),
                ) as http,
                http.request(
                    method,
                    url,
                    data=None if body is None else json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"} if body is not None else {},
                ) as resp,
            ):
                raw = await resp.content.read(MAX_ANSWER)
                return resp.status, raw, dict(resp.headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            _log.warning("fleet service %s %s: %r", method, path, err)
            raise error(
                "FLEET_UNREACHABLE",
                f"Layanan armada di {self.base_url} tidak dapat dihubungi ({type(err).__name__}):"
                " periksa jaringan kios, lalu jalankan perintah yang sama lagi.",
                f"The fleet service at {self.base_url} is unreachable ({type(err).__name__}):"
                " check the kiosk's network, then run the same command again.",
                retry=True,
            ) from err

    async def server_time(self, error: type[ProvisionError]) -> float:
        """The service's clock (its Date header, 1 s resolution)."""
        _, _, headers = await self.request("GET", "/.well-known/est/cacerts", error)
        date = headers.get("Date")
        parsed = email.utils.parsedate_to_datetime(date) if date else None
        if parsed is None:
            raise error(
                "NO_SERVER_TIME",
                "Layanan armada tidak mengirim jam (header Date).",
                "The fleet service sent no time (Date header).",
                retry=True,
            )
        return parsed.timestamp()

    async def enrolment_token(
        self, serial: str, institution: str, error: type[ProvisionError]
    ) -> str:
        """A single-use enrolment token for the kiosk (the technician's certificate asks)."""
        status, raw, _ = await self.request(
            "POST", "/enrol/v1/tokens", error, {"serial": serial, "institution": institution}
        )
        if status != 201:
            raise refused(error, "TOKEN_REFUSED", status, raw)
        return str(json.loads(raw)["token"])

    async def records(self, device: str, error: type[ProvisionError]) -> list[dict[str, Any]]:
        """The kiosk's handover records, oldest first."""
        status, raw, _ = await self.request("GET", _records(device), error)
        if status != 200:
            raise refused(error, "RECORDS_REFUSED", status, raw)
        found: list[dict[str, Any]] = json.loads(raw)["records"]
        return found

    async def post_record(
        self, device: str, record: dict[str, Any], error: type[ProvisionError]
    ) -> dict[str, Any]:
        """Send a signed record; the countersigned one the fleet stored."""
        status, raw, _ = await self.request("POST", _records(device), error, record)
        if status != 201:
            raise refused(error, "RECORD_REFUSED", status, raw)
        stored: dict[str, Any] = json.loads(raw)
        return stored


def refused(error: type[ProvisionError], code: str, status: int, raw: bytes) -> ProvisionError:
    """The fleet service's refusal, with its one-line reason."""
    reason = raw[:300].decode("utf-8", "replace").strip().splitlines()
    text = reason[0] if reason else "no reason given"
    return error(
        code,
        f"Layanan armada menolak ({status}): {text}",
        f"The fleet service refused ({status}): {text}",
        retry=status >= 500,
    )


def _records(device: str) -> str:
    return f"/provision/v1/devices/{device}/records"
