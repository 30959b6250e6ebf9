"""The HTTP client of the upstream: an aiohttp session with a keep-alive pool of `connections`, a
deadline per request (`timeout_s`) and TLS to the upstream where the URL is https://. aiohttp's
and asyncio's errors become UpstreamError here, at the boundary.
"""

from __future__ import annotations

import logging
import ssl
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from gateway.errors import UpstreamError

log = logging.getLogger(__name__)
MAX_ANSWER_BYTES = 1024 * 1024
_JSON = "application/json"


class UpstreamClient:
    """POSTs JSON to one upstream origin; construct it in the running event loop."""

    def __init__(
        self,
        url: str,
        *,
        connections: int,
        timeout_s: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("upstream URL must be http:// or https:// with a host")
        self._base = url.rstrip("/")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=connections, limit_per_host=0, ssl=ssl_context or True
            ),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(),  # one session serves every institution
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            auto_decompress=False,  # identity bodies only: a compressed answer does not parse
        )
        self._headers = {"Content-Type": _JSON}

    def url(self, path: str) -> URL:
        """The URL of a path under the upstream's base URL."""
        return URL(self._base + path, encoded=True)

    async def post(
        self, url: URL, body: bytes, authorization: str | None = None
    ) -> tuple[int, bytes]:
        """POST a JSON body; (status, body) of the answer, or UpstreamError.

        A request whose connection the upstream closed before answering is sent once more on a
        fresh connection: the usual cause is a kept-alive connection the upstream closed while
        it was idle.
        """
        if self._session.closed:
            raise UpstreamError("connection", "client closed")
        headers = self._headers
        if authorization is not None:
            headers = {**headers, "Authorization": authorization}
        try:
            try:
                return await self._post(url, body, headers)
            except aiohttp.ClientConnectorError:
                raise
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                log.debug("upstream closed a connection before answering: sending again")
                return await self._post(url, body, headers)
        except TimeoutError as err:
            raise UpstreamError("timeout") from err
        except (aiohttp.ClientResponseError, aiohttp.ClientPayloadError) as err:
            raise UpstreamError("garbage", type(err).__name__) from err
        except (aiohttp.ClientError, OSError) as err:
            raise UpstreamError("connection", type(err).__name__) from err

    async def _post(self, url: URL, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        async with self._session.post(url, data=body, headers=headers) as resp:
            length = resp.content_length
            if length is not None and length > MAX_ANSWER_BYTES:
                raise UpstreamError("garbage", "answer too large")
            if length is not None:
                return resp.status, await resp.read()
            raw = b""
            async for chunk in resp.content.iter_any():
                raw += chunk
                if len(raw) > MAX_ANSWER_BYTES:
                    raise UpstreamError("garbage", "answer too large")
            return resp.status, raw

    async def close(self) -> None:
        """Close the session and its connections."""
        await self._session.close()
