"""What the gateway knows about institutions and devices: policies (config, then admin changes
persisted in the store), revoked devices, the device CRL, device pinning (config pins, then
reader/SAM pins set through the admin API and persisted in the store, which win).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from common.tasks import cancel_and_wait
from gateway.config import DevicePin, GatewayConfig, Institution
from gateway.peers import Peer
from gateway.periodic import every
from gateway.policy import Policy, PolicyError, parse_policy
from gateway.store.base import Store
from protocol.messages import ReaderIdentity

log = logging.getLogger(__name__)


class Registry:
    """Institutions, their current policies, and device states."""

    def __init__(self, config: GatewayConfig, store: Store, crl: frozenset[int]) -> None:
        self.institutions: dict[str, Institution] = dict(config.institutions)
        self.policies: dict[str, Policy] = {i: inst.policy for i, inst in self.institutions.items()}
        self.revoked: frozenset[str] = frozenset()
        self.crl = crl
        self._config_pins: dict[str, DevicePin] = dict(config.devices)
        self._pins: dict[str, DevicePin] = dict(config.devices)
        self._stored_pins: dict[str, tuple[str, str]] = {}
        self._store = store
        self._refresh_s = config.store.refresh_s
        self._task: asyncio.Task[None] | None = None
        self._begun = 0  # loads begun
        self._done = 0  # the latest load (by when it began) that has completed
        self._loaded = asyncio.Condition()

    async def load(self) -> None:
        """Read admin changes from the store: persisted policies win over the config's."""
        self._begun += 1
        this = self._begun
        docs = await self._store.policies()
        for inst_id, doc in docs.items():
            if inst_id not in self.institutions:
                continue
            try:
                policy = parse_policy(doc, f"stored policy of {inst_id}")
            except PolicyError as err:
                log.error("ignoring a stored policy that does not parse: %s", err)
                continue
            if policy != self.policies[inst_id] and self._task is None:
                log.info("institution %s: policy set through the admin API is in force", inst_id)
            self.policies[inst_id] = policy
        self.revoked = await self._store.revoked_devices()
        self._use_stored_pins(await self._store.bindings())
        async with self._loaded:
            self._done = max(self._done, this)
            self._loaded.notify_all()

    async def next_load(self) -> None:
        """Wait until a load begun after this call has completed (tests, operations).

        A load already under way may have read the store before a change this caller made, so
        it does not count.
        """
        async with self._loaded:
            target = self._begun + 1
            await self._loaded.wait_for(lambda: self._done >= target)

    def start_refresh(self) -> None:
        """With a shared store, pick up other replicas' admin changes periodically."""
        if self._store.shared:
            job = every(
                self._refresh_s, self.load, "policy refresh failed, keeping the last known state"
            )
            self._task = asyncio.create_task(job, name="gateway-registry-refresh")

    async def stop(self) -> None:
        """Stop refreshing."""
        await cancel_and_wait(self._task)
        self._task = None

    def _use_stored_pins(self, stored: dict[str, tuple[str, str]]) -> None:
        """Config pins, with the reader/SAM of every pin stored through the admin API."""
        pins = dict(self._config_pins)
        for device, (reader_id, sam_id) in stored.items():
            base = pins.get(device, DevicePin())
            pins[device] = replace(base, reader_id=reader_id, sam_id=sam_id)
        self._stored_pins = dict(stored)
        self._pins = pins

    def pin(self, device_id: str) -> DevicePin | None:
        """The pin in force for a device (stored, else from the config), or None."""
        return self._pins.get(device_id)

    def stored_pin(self, device_id: str) -> tuple[str, str] | None:
        """The (reader id, SAM id) pinned through the admin API, or None."""
        return self._stored_pins.get(device_id)

    async def set_binding(self, device_id: str, reader_id: str, sam_id: str) -> None:
        """Persist and apply a device's reader/SAM pin (in force at once, no restart)."""
        await self._store.set_binding(device_id, reader_id, sam_id)
        self._use_stored_pins({**self._stored_pins, device_id: (reader_id, sam_id)})

    async def remove_binding(self, device_id: str) -> None:
        """Persist and apply the removal of a device's stored pin."""
        await self._store.remove_binding(device_id)
        self._use_stored_pins({d: p for d, p in self._stored_pins.items() if d != device_id})

    def institution_of(self, peer: Peer) -> str | None:
        """The institution a device belongs to: its certificate's O, unless pinned otherwise."""
        pin = self._pins.get(peer.name)
        inst = peer.institution
        if pin is not None and pin.institution is not None:
            if inst is not None and inst != pin.institution:
                return None
            inst = pin.institution
        return inst if inst in self.institutions else None

    def refusal(self, peer: Peer, institution: str, reader: ReaderIdentity | None) -> str | None:
        """Why this device is refused right now, or None."""
        if peer.name in self.revoked:
            return "device_revoked"
        if peer.serial in self.crl:
            return "certificate_revoked"
        sanctions = self.policies[institution].sanctions
        if sanctions.network_cut:
            return "network_cut"
        if sanctions.approval_revoked:
            return "approval_revoked"
        if peer.name in sanctions.deactivated_devices:
            return "reader_deactivated"
        pin = self._pins.get(peer.name)
        if reader is not None and pin is not None:
            if pin.reader_id is not None and pin.reader_id != reader.reader_id:
                return "reader_not_bound"
            if pin.sam_id is not None and pin.sam_id != reader.sam_id:
                return "sam_not_bound"
        return None

    async def set_policy(self, institution: str, policy: Policy) -> None:
        """Persist and apply a new policy."""
        await self._store.save_policy(institution, policy.to_json())
        self.policies[institution] = policy

    async def set_revoked(self, device_id: str, revoked: bool) -> None:
        """Persist and apply a device's revocation."""
        await self._store.set_device_revoked(device_id, revoked)
        self.revoked = self.revoked | {device_id} if revoked else self.revoked - {device_id}
