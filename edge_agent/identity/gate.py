"""Sessions refused while the kiosk's certificate is expired: SERVICE_UNAVAILABLE, never a query
under an identity that is no longer valid (the health report carries cert_days < 0)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from edge_agent.devices import GatewayAnswer, GatewayPort
from edge_agent.identity.device import DeviceIdentity
from protocol.messages import MatchEvidence, ReaderIdentity, VerificationResponse
from protocol.outcomes import Outcome

_log = logging.getLogger(__name__)


class IdentityGate:
    """A gateway port that answers SERVICE_UNAVAILABLE itself once the certificate expired."""

    def __init__(
        self, gateway: GatewayPort, identity: DeviceIdentity, wall: Callable[[], float]
    ) -> None:
        self._gateway = gateway
        self._identity = identity
        self._wall = wall
        self.refused = 0

    async def verify(
        self,
        request_id: str,
        nik: bytearray,
        match: MatchEvidence,
        reader: ReaderIdentity,
        replay_key: bytearray,
    ) -> GatewayAnswer:
        """The gateway's answer, or SERVICE_UNAVAILABLE without asking it when expired."""
        if self._identity.expired(self._wall()):
            self.refused += 1
            _log.error(
                "certificate expired: session refused request_id=%s (renewal needed)", request_id
            )
            return VerificationResponse(request_id, Outcome.SERVICE_UNAVAILABLE)
        return await self._gateway.verify(request_id, nik, match, reader, replay_key)
