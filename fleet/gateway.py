"""The gateway's admin API, with an admin client certificate: revoke or reinstate a device."""

from __future__ import annotations

import http.client
import json
import re
import ssl
from urllib.parse import quote, urlsplit

from fleet.errors import FleetError

_CODE = re.compile(r"^[A-Z][A-Z_]{0,39}\Z")


class GatewayAdmin:
    """POST /admin/v1/devices/{id}/revoke and /reinstate."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.hostname is None:
            raise FleetError(f"not a gateway URL: {url}")
        self._host = parts.hostname
        self._port = parts.port or 443
        self._prefix = parts.path.rstrip("/")
        self._ctx = ssl_context
        self._timeout = timeout

    def set_revoked(self, device_id: str, revoked: bool) -> None:
        """Make the gateway refuse (revoked) or accept the device again."""
        action = "revoke" if revoked else "reinstate"
        path = f"{self._prefix}/admin/v1/devices/{quote(device_id, safe='')}/{action}"
        status, body = self._post(path)
        if status != 200:
            raise FleetError(f"the gateway refused to {action} {device_id}: {_error(status, body)}")

    def _post(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection(
            self._host, self._port, context=self._ctx, timeout=self._timeout
        )
        try:
            conn.request("POST", path, body=b"{}", headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.read(65536)
        except ssl.SSLError as err:
            where = f"{self._host}:{self._port}"
            raise FleetError(f"TLS with the gateway {where} failed: {err}") from err
        except (OSError, http.client.HTTPException) as err:
            raise FleetError(
                f"cannot reach the gateway {self._host}:{self._port}: {type(err).__name__}"
            ) from err
        finally:
            conn.close()


def _error(status: int, body: bytes) -> str:
    """HTTP status and the error code of the gateway's JSON error body."""
    try:
        err = json.loads(body).get("error", {})
        code = err.get("code") if isinstance(err, dict) else None
    except (ValueError, AttributeError):
        code = None
    if isinstance(code, str) and _CODE.match(code):
        return f"HTTP {status} {code}"
    return f"HTTP {status}"
