"""What the alerts read from the gateway's admin API (admin certificate): an institution's
quota use today, and the anti-scraping refusals (PATTERN_BLOCKED answers) per institution."""

from __future__ import annotations

import logging
import ssl
from typing import Any
from urllib.parse import quote

import aiohttp

from fleet.errors import FleetError
from protocol.outcomes import Outcome
from protocol.strict import Reader, StrictError

_log = logging.getLogger(__name__)


class GatewayPoller:
    """GET /admin/v1/institutions/{id}/quota and GET /admin/v1/usage."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext, *, timeout: float = 10.0) -> None:
        self._url = url.rstrip("/")
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(self._url + path, params=params, ssl=self._ssl) as resp:
                if resp.status == 404:
                    return None
                if resp.status != 200:
                    raise FleetError(f"the gateway answered HTTP {resp.status} to {path}")
                return await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise FleetError(f"cannot read {path} from the gateway: {type(err).__name__}") from err

    async def quota(self, institution: str) -> tuple[int, int | None] | None:
        """(used today, daily limit or None) of an institution; None if the gateway has none."""
        body = await self._get(f"/admin/v1/institutions/{quote(institution, safe='')}/quota")
        if body is None:
            return None
        try:
            r = Reader(body)
            used = r.integer("used")
            limit = None if r.raw("limit", None) is None else r.integer("limit")
        except StrictError as err:
            raise FleetError(f"the gateway's quota answer: {err}") from err
        return used, limit

    async def pattern_blocked(self, first: str, last: str) -> dict[str, int]:
        """PATTERN_BLOCKED answers per institution over the days `first`..`last`."""
        body = await self._get("/admin/v1/usage", {"from": first, "to": last})
        counts: dict[str, int] = {}
        try:
            for i, row in enumerate(Reader(body or {"usage": []}).items("usage")):
                r = Reader(row, f"usage[{i}]")
                if r.text("outcome") == Outcome.PATTERN_BLOCKED.value:
                    inst = r.text("institution")
                    counts[inst] = counts.get(inst, 0) + r.integer("count")
        except StrictError as err:
            raise FleetError(f"the gateway's usage answer: {err}") from err
        return counts
