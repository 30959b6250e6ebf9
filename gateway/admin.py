"""Admin endpoints (admin certificates only): revoke or reinstate a device, pin it to the reader
and SAM read from its hardware (in force at once, persisted), read and set an institution's
policy, read quota and usage counts, install a new CRL. Every change is a security
event. Roles by certificate (common/roles.py): an admin-CA certificate with OU read-only-admin
(or its CN in `[tls] read_only_admins`) may only read; OU technician may do nothing here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from common.clock import Clock, local_day
from common.roles import Role as PersonRole
from gateway.answers import Answer, error_answer
from gateway.api import BODY, Handler, guarded, peer_of, read_json, respond
from gateway.crl import CrlError, CrlKeeper
from gateway.errors import StoreError
from gateway.logs import SECURITY
from gateway.peers import Peer, PeerIdentifier, Role
from gateway.policy import PolicyError, parse_policy
from gateway.registry import Registry
from gateway.store.base import Store
from gateway.usage import UsageCounter
from protocol.messages import encode_body
from protocol.regions import utc_offset_hours
from protocol.strict import Reader, StrictError

_DEVICE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
AdminHandler = Callable[[web.Request, Peer], Awaitable[web.StreamResponse]]
ROUTES: dict[str, str] = {
    "/admin/v1/devices": "GET",
    "/admin/v1/devices/{device_id}/revoke": "POST",
    "/admin/v1/devices/{device_id}/reinstate": "POST",
    "/admin/v1/devices/{device_id}/binding": "GET, PUT, DELETE",
    "/admin/v1/institutions": "GET",
    "/admin/v1/institutions/{institution}/policy": "GET, PUT, PATCH",
    "/admin/v1/institutions/{institution}/quota": "GET",
    "/admin/v1/usage": "GET",
    "/admin/v1/crl": "PUT",
}


def _binding(
    device_id: str, reader_id: str | None, sam_id: str | None, stored: bool
) -> dict[str, object]:
    return {"device_id": device_id, "reader_id": reader_id, "sam_id": sam_id, "stored": stored}


def _ok(body: dict[str, object]) -> web.Response:
    return respond(Answer(200, encode_body(body), "ADMIN", False))


class AdminApi:
    """Handlers of the admin endpoints."""

    def __init__(
        self,
        registry: Registry,
        store: Store,
        usage: UsageCounter,
        peers: PeerIdentifier,
        clock: Clock,
        *,
        read_only: frozenset[str] = frozenset(),
        crls: CrlKeeper | None = None,
    ) -> None:
        self._read_only = read_only
        self._crls = crls
        self._registry = registry
        self._store = store
        self._usage = usage
        self._peers = peers
        self._clock = clock

    def add_routes(self, app: web.Application) -> None:
        """Register the routes."""
        r = app.router
        r.add_get("/admin/v1/devices", self._wrap(self.devices))
        r.add_post("/admin/v1/devices/{device_id}/revoke", self._wrap(self.revoke))
        r.add_post("/admin/v1/devices/{device_id}/reinstate", self._wrap(self.reinstate))
        binding = "/admin/v1/devices/{device_id}/binding"
        r.add_get(binding, self._wrap(self.get_binding))
        r.add_put(binding, self._wrap(self.put_binding))
        r.add_delete(binding, self._wrap(self.delete_binding))
        r.add_get("/admin/v1/institutions", self._wrap(self.institutions))
        policy = "/admin/v1/institutions/{institution}/policy"
        r.add_get(policy, self._wrap(self.get_policy))
        r.add_put(policy, self._wrap(self.put_policy))
        r.add_patch(policy, self._wrap(self.put_policy))
        r.add_get("/admin/v1/institutions/{institution}/quota", self._wrap(self.quota))
        r.add_get("/admin/v1/usage", self._wrap(self.usage))
        r.add_put("/admin/v1/crl", self._wrap(self.put_crl))

    def _wrap(self, handler: AdminHandler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            peer = peer_of(request, self._peers)
            if peer is None or peer.role is not Role.ADMIN:
                SECURITY.warning(
                    "admin_refused path=%s client=%s",
                    request.path if request.path.isascii() else "<non-ascii>",
                    peer.name if peer is not None else "-",
                )
                return respond(error_answer(403, "FORBIDDEN", "an admin certificate is required"))
            if peer.person is PersonRole.TECHNICIAN:
                SECURITY.warning(
                    "admin_refused reason=technician path=%s client=%s",
                    request.path if request.path.isascii() else "<non-ascii>",
                    peer.name,
                )
                return respond(
                    error_answer(403, "FORBIDDEN", "a technician certificate has no admin access")
                )
            read_only = peer.person is PersonRole.READ_ONLY_ADMIN or peer.name in self._read_only
            if read_only and request.method not in ("GET", "HEAD"):
                SECURITY.warning(
                    "admin_refused reason=read_only path=%s client=%s",
                    request.path if request.path.isascii() else "<non-ascii>",
                    peer.name,
                )
                return respond(error_answer(403, "FORBIDDEN", "a read-only admin certificate"))
            try:
                return await handler(request, peer)
            except StoreError:
                return respond(error_answer(503, "STORE_UNAVAILABLE", "the store did not answer"))

        return guarded("admin " + handler.__name__, run)

    async def devices(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """GET /admin/v1/devices: the revoked devices."""
        return _ok({"revoked": sorted(self._registry.revoked)})

    async def revoke(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """POST /admin/v1/devices/{device_id}/revoke."""
        return await self._set_revoked(request, admin, True)

    async def reinstate(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """POST /admin/v1/devices/{device_id}/reinstate."""
        return await self._set_revoked(request, admin, False)

    async def _set_revoked(
        self, request: web.Request, admin: Peer, revoked: bool
    ) -> web.StreamResponse:
        device_id = request.match_info["device_id"]
        if not _DEVICE_ID.match(device_id):
            return respond(error_answer(400, "BAD_REQUEST", "not a device id", "device_id"))
        await self._registry.set_revoked(device_id, revoked)
        SECURITY.warning(
            "admin_action admin=%s action=%s device=%s",
            admin.name,
            "revoke" if revoked else "reinstate",
            device_id,
        )
        return _ok({"device_id": device_id, "revoked": revoked})

    async def get_binding(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """GET .../binding: the reader and SAM the device is pinned to (stored or config)."""
        device_id = request.match_info["device_id"]
        if not _DEVICE_ID.match(device_id):
            return respond(error_answer(400, "BAD_REQUEST", "not a device id", "device_id"))
        pin = self._registry.pin(device_id)
        if pin is None or (pin.reader_id is None and pin.sam_id is None):
            return respond(error_answer(404, "NOT_FOUND", "the device is not pinned"))
        stored = self._registry.stored_pin(device_id) is not None
        return _ok(_binding(device_id, pin.reader_id, pin.sam_id, stored))

    async def put_binding(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """PUT .../binding {"reader_id", "sam_id"}: pin the device, persisted, in force at once."""
        device_id = request.match_info["device_id"]
        if not _DEVICE_ID.match(device_id):
            return respond(error_answer(400, "BAD_REQUEST", "not a device id", "device_id"))
        body = await read_json(request)
        if isinstance(body, Answer):
            return respond(body)
        try:
            r = Reader(body, "binding")
            reader_id = r.text("reader_id", pattern=_DEVICE_ID)
            sam_id = r.text("sam_id", pattern=_DEVICE_ID)
            r.done()
        except StrictError as err:
            return respond(error_answer(400, "BAD_REQUEST", err.reason, err.path))
        await self._registry.set_binding(device_id, reader_id, sam_id)
        SECURITY.warning(
            "admin_action admin=%s action=bind device=%s reader=%s sam=%s",
            admin.name,
            device_id,
            reader_id,
            sam_id,
        )
        return _ok(_binding(device_id, reader_id, sam_id, True))

    async def delete_binding(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """DELETE .../binding: forget the stored pin (a config pin is in force again)."""
        device_id = request.match_info["device_id"]
        if not _DEVICE_ID.match(device_id):
            return respond(error_answer(400, "BAD_REQUEST", "not a device id", "device_id"))
        await self._registry.remove_binding(device_id)
        SECURITY.warning("admin_action admin=%s action=unbind device=%s", admin.name, device_id)
        pin = self._registry.pin(device_id)
        reader_id, sam_id = (pin.reader_id, pin.sam_id) if pin is not None else (None, None)
        return _ok(_binding(device_id, reader_id, sam_id, False))

    async def put_crl(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """PUT /admin/v1/crl: a new CRL of the device CA or the admin CA (DER, or PEM), in force
        at once for new handshakes and open connections. A body is at most 16 KiB: a DER CRL of
        about 400 revoked certificates (expired ones leave the CRL)."""
        if self._crls is None:
            return respond(error_answer(503, "STORE_UNAVAILABLE", "CRLs are not kept here"))
        raw = bytes(request[BODY])  # read by the connection guard (at most MAX_BODY_BYTES)
        try:
            kind, count = self._crls.install(raw)
        except CrlError as err:
            return respond(error_answer(400, "BAD_REQUEST", str(err), "crl"))
        SECURITY.warning(
            "admin_action admin=%s action=install_crl ca=%s revoked=%d", admin.name, kind, count
        )
        return _ok({"ca": kind, "revoked": count, "tls_checking": self._crls.tls_checking})

    async def institutions(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """GET /admin/v1/institutions: every institution with its policy."""
        reg = self._registry
        return _ok(
            {
                "institutions": {
                    i: {
                        "name": inst.name,
                        "province": inst.province,
                        "policy": reg.policies[i].to_json(),
                    }
                    for i, inst in sorted(reg.institutions.items())
                }
            }
        )

    def _institution(self, request: web.Request) -> str | None:
        inst = request.match_info["institution"]
        return inst if inst in self._registry.institutions else None

    async def get_policy(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """GET .../policy."""
        inst = self._institution(request)
        if inst is None:
            return respond(error_answer(404, "NOT_FOUND", "no such institution"))
        return _ok({"institution": inst, "policy": self._registry.policies[inst].to_json()})

    async def put_policy(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """PUT (whole policy) or PATCH (some keys) .../policy."""
        inst = self._institution(request)
        if inst is None:
            return respond(error_answer(404, "NOT_FOUND", "no such institution"))
        body = await read_json(request)
        if isinstance(body, Answer):
            return respond(body)
        base = self._registry.policies[inst] if request.method == "PATCH" else None
        try:
            policy = parse_policy(body, "policy", base)
        except PolicyError as err:
            return respond(error_answer(400, "BAD_REQUEST", str(err), err.key))
        await self._registry.set_policy(inst, policy)
        SECURITY.warning(
            "admin_action admin=%s action=set_policy institution=%s poc_approved=%s active=%s "
            "user_active=%s quota=%s user_deactivated=%s network_cut=%s approval_revoked=%s "
            "deactivated_devices=%d",
            admin.name,
            inst,
            policy.poc_approved,
            policy.active,
            policy.user_active,
            policy.sanctions.quota,
            policy.sanctions.user_deactivated,
            policy.sanctions.network_cut,
            policy.sanctions.approval_revoked,
            len(policy.sanctions.deactivated_devices),
        )
        return _ok({"institution": inst, "policy": policy.to_json()})

    async def quota(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """GET .../quota: today's (local day) use and limit."""
        inst = self._institution(request)
        if inst is None:
            return respond(error_answer(404, "NOT_FOUND", "no such institution"))
        day = local_day(
            self._clock.time(), utc_offset_hours(self._registry.institutions[inst].province)
        )
        used = await self._store.quota_used(inst, day)
        limit = self._registry.policies[inst].daily_limit()
        return _ok({"institution": inst, "day": day, "used": used, "limit": limit})

    async def usage(self, request: web.Request, admin: Peer) -> web.StreamResponse:
        """GET /admin/v1/usage?institution=&from=YYYY-MM-DD&to=YYYY-MM-DD: answer counts."""
        q = request.query
        first, last = q.get("from", "0000-01-01"), q.get("to", "9999-12-31")
        for name, value in (("from", first), ("to", last)):
            if not _DAY.match(value):
                return respond(error_answer(400, "BAD_REQUEST", "a day is YYYY-MM-DD", name))
        inst = q.get("institution")
        if inst is not None and inst not in self._registry.institutions:
            return respond(error_answer(404, "NOT_FOUND", "no such institution"))
        await self._usage.flush()
        rows = await self._store.usage(inst, first, last)
        return _ok(
            {
                "usage": [
                    {
                        "institution": r.institution,
                        "day": r.day,
                        "outcome": r.outcome,
                        "count": r.count,
                    }
                    for r in rows
                ]
            }
        )
