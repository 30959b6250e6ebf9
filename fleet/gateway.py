"""The gateway's admin API, with an admin client certificate: revoke or reinstate a device, read
and patch an institution's policy (the sanctions), read its quota and the anti-scraping counts.
One keep-alive connection; the CLI calls it directly, the service from a thread
(fleet/service/gateway_poll.py)."""

from __future__ import annotations

import http.client
import json
import re
import ssl
from typing import Any, overload
from urllib.parse import quote, urlencode, urlsplit

from fleet.errors import FleetError
from protocol.outcomes import Outcome
from protocol.strict import Reader, StrictError

_CODE = re.compile(r"^[A-Z][A-Z_]{0,39}\Z")


class GatewayAdmin:
    """/admin/v1/devices/{id}/revoke|reinstate|binding, /admin/v1/institutions/{id}/policy|quota."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.hostname is None:
            raise FleetError(f"not a gateway URL: {url}")
        self._host = parts.hostname
        self._port = parts.port or 443
        self._prefix = parts.path.rstrip("/")
        self._ctx = ssl_context
        self._timeout = timeout
        self._conn: http.client.HTTPSConnection | None = None

    def close(self) -> None:
        """Close the kept-alive connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> GatewayAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_revoked(self, device_id: str, revoked: bool) -> None:
        """Make the gateway refuse (revoked) or accept the device again."""
        action = "revoke" if revoked else "reinstate"
        path = f"/admin/v1/devices/{quote(device_id, safe='')}/{action}"
        status, body = self._request("POST", path, {})
        if status != 200:
            raise FleetError(f"the gateway refused to {action} {device_id}: {_error(status, body)}")

    def bind(self, device_id: str, reader_id: str, sam_id: str) -> None:
        """Pin the device to this reader and SAM at the gateway (in force at once, stored)."""
        path = f"/admin/v1/devices/{quote(device_id, safe='')}/binding"
        body = {"reader_id": reader_id, "sam_id": sam_id}
        self._json("PUT", path, body, f"pin {device_id} to its reader and SAM")

    def unbind(self, device_id: str) -> None:
        """Forget the device's stored reader/SAM pin at the gateway."""
        path = f"/admin/v1/devices/{quote(device_id, safe='')}/binding"
        self._json("DELETE", path, None, f"unpin {device_id}")

    def binding(self, device_id: str) -> tuple[str | None, str | None] | None:
        """The (reader id, SAM id) the gateway pins the device to, or None."""
        path = f"/admin/v1/devices/{quote(device_id, safe='')}/binding"
        body = self._json("GET", path, None, f"read the pin of {device_id}", missing_ok=True)
        if body is None:
            return None
        reader, sam = body.get("reader_id"), body.get("sam_id")
        if not all(v is None or isinstance(v, str) for v in (reader, sam)):
            raise FleetError("the gateway's binding answer is malformed")
        return reader, sam

    def put_crl(self, der: bytes) -> dict[str, Any]:
        """Install a new CRL (device or admin CA, DER) at the gateway; its answer."""
        return self._json("PUT", "/admin/v1/crl", der, "install the CRL")

    def revoked(self) -> frozenset[str]:
        """The devices revoked at the gateway."""
        body = self._json("GET", "/admin/v1/devices", None, "read the revoked devices")
        names = body.get("revoked")
        if not isinstance(names, list):
            raise FleetError("the gateway's list of revoked devices is malformed")
        return frozenset(str(n) for n in names)

    def policy(self, institution: str) -> dict[str, Any]:
        """An institution's policy as the gateway holds it."""
        path = f"/admin/v1/institutions/{quote(institution, safe='')}/policy"
        return _policy(self._json("GET", path, None, f"read the policy of {institution}"))

    def patch_policy(self, institution: str, patch: dict[str, Any]) -> dict[str, Any]:
        """PATCH some keys of an institution's policy; the policy now in force."""
        path = f"/admin/v1/institutions/{quote(institution, safe='')}/policy"
        return _policy(self._json("PATCH", path, patch, f"change the policy of {institution}"))

    def quota(self, institution: str) -> tuple[int, int | None] | None:
        """Today's (used, limit) of an institution; None if the gateway does not know it."""
        path = f"/admin/v1/institutions/{quote(institution, safe='')}/quota"
        body = self._json("GET", path, None, f"read the quota of {institution}", missing_ok=True)
        if body is None:
            return None
        try:
            r = Reader(body)
            return r.integer("used"), None if r.raw("limit", None) is None else r.integer("limit")
        except StrictError as err:
            raise FleetError(f"the gateway's quota answer: {err}") from err

    def pattern_blocked(self, first: str, last: str) -> dict[str, int]:
        """PATTERN_BLOCKED answers per institution over the local days `first`..`last`."""
        counts: dict[str, int] = {}
        for (inst, _day, outcome), n in self.usage_counts(first, last).items():
            if outcome == Outcome.PATTERN_BLOCKED.value:
                counts[inst] = counts.get(inst, 0) + n
        return counts

    def usage_counts(
        self, first: str, last: str, institution: str | None = None
    ) -> dict[tuple[str, str, str], int]:
        """Answers (and RETURN_ACCEPTED/RETURN_REFUSED data balikan) per (institution, local
        day, outcome) over the days `first`..`last`."""
        query = {"from": first, "to": last}
        if institution is not None:
            query["institution"] = institution
        body = self._json("GET", f"/admin/v1/usage?{urlencode(query)}", None, "read the usage")
        counts: dict[tuple[str, str, str], int] = {}
        try:
            for i, row in enumerate(Reader(body).items("usage")):
                r = Reader(row, f"usage[{i}]")
                key = (r.text("institution"), r.text("day"), r.text("outcome"))
                counts[key] = counts.get(key, 0) + r.integer("count", lo=0)
        except StrictError as err:
            raise FleetError(f"the gateway's usage answer: {err}") from err
        return counts

    def institutions(self) -> frozenset[str]:
        """The institutions the gateway serves."""
        body = self._json("GET", "/admin/v1/institutions", None, "read the institutions")
        found = body.get("institutions")
        if not isinstance(found, dict):
            raise FleetError("the gateway's list of institutions is malformed")
        return frozenset(str(i) for i in found)

    @overload
    def _json(self, method: str, path: str, body: Any, what: str) -> dict[str, Any]: ...

    @overload
    def _json(
        self, method: str, path: str, body: Any, what: str, *, missing_ok: bool
    ) -> dict[str, Any] | None: ...

    def _json(
        self, method: str, path: str, body: Any, what: str, *, missing_ok: bool = False
    ) -> dict[str, Any] | None:
        status, raw = self._request(method, path, body)
        if status == 404 and missing_ok:
            return None
        if status != 200:
            raise FleetError(f"the gateway refused to {what}: {_error(status, raw)}")
        try:
            obj = json.loads(raw)
        except ValueError as err:
            raise FleetError(f"the gateway's answer to {what} is not JSON") from err
        if not isinstance(obj, dict):
            raise FleetError(f"the gateway's answer to {what} is not an object")
        return obj

    def _request(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        headers: dict[str, str] = {}
        data: bytes | None = None
        if isinstance(body, bytes):
            data, headers = body, {"Content-Type": "application/pkix-crl"}
        elif body is not None:
            data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
        for attempt in (1, 2):  # a kept-alive connection the gateway closed: once more
            if self._conn is None:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, context=self._ctx, timeout=self._timeout
                )
            try:
                self._conn.request(method, self._prefix + path, body=data, headers=headers)
                resp = self._conn.getresponse()
                return resp.status, resp.read(1 << 20)
            except ssl.SSLError as err:
                self.close()
                where = f"{self._host}:{self._port}"
                raise FleetError(f"TLS with the gateway {where} failed: {err}") from err
            except (OSError, http.client.HTTPException) as err:
                self.close()
                stale = isinstance(err, http.client.RemoteDisconnected | ConnectionResetError)
                if attempt == 1 and stale:
                    continue
                raise FleetError(
                    f"cannot reach the gateway {self._host}:{self._port}: {type(err).__name__}"
                ) from err
        raise AssertionError("unreachable")


def _policy(body: dict[str, Any]) -> dict[str, Any]:
    policy = body.get("policy")
    if not isinstance(policy, dict) or not isinstance(policy.get("sanctions"), dict):
        raise FleetError("the gateway's policy answer is malformed")
    return policy


def _error(status: int, body: bytes) -> str:
    """HTTP status and the error code of the gateway's JSON error body."""
    try:
        err = json.loads(body).get("error", {})
        code = err.get("code") if isinstance(err, dict) else None
        message = err.get("message") if isinstance(err, dict) else None
    except (ValueError, AttributeError):
        code = message = None
    if isinstance(code, str) and _CODE.match(code):
        if isinstance(message, str) and message.isprintable() and len(message) <= 200:
            return f"HTTP {status} {code} ({message})"
        return f"HTTP {status} {code}"
    return f"HTTP {status}"
