"""The upstream adapter interface. The real Dukcapil API is confidential and configured per
deployment; adapters translate it to these few calls and these answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple, Protocol

from protocol.outcomes import Outcome

# Outcomes an upstream may answer (the Juknis table).
UPSTREAM_OUTCOMES = frozenset(o for o in Outcome if o.info.upstream)
# The parameter checks: the look-up itself did not happen.
PARAMETER_CHECKS = frozenset(
    {
        Outcome.LOGIN_FAILED,
        Outcome.QUOTA_EXHAUSTED,
        Outcome.INSTITUTION_INACTIVE,
        Outcome.USER_INACTIVE,
    }
)


@dataclass(frozen=True, slots=True)
class UpstreamAccount:
    """An institution's own user ID at Dukcapil (the platform has none of its own)."""

    institution: str
    user_id: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"UpstreamAccount({self.institution!r}, user_id={self.user_id!r})"


class UpstreamAnswer(NamedTuple):
    """One answer of the upstream. Holds personal data: never log or persist it."""

    outcome: Outcome
    record: Mapping[str, str] = MappingProxyType({})  # data element wire name → value

    def __repr__(self) -> str:
        return f"UpstreamAnswer({self.outcome.value}, record=<{len(self.record)} elements>)"


@dataclass(frozen=True, slots=True)
class ReturnAnswer:
    """The upstream's answer to data balikan: accepted, or a reason code."""

    accepted: bool
    reason: str | None = None


class Upstream(Protocol):
    """What the gateway needs from the Dukcapil upstream.

    `verify` answers an UpstreamAnswer whose outcome is one of UPSTREAM_OUTCOMES, and raises
    gateway.errors.UpstreamError when no usable answer came (timeout, connection, 5xx, garbage).
    """

    async def verify(self, account: UpstreamAccount, nik: str) -> UpstreamAnswer:
        """Look one NIK up with the institution's account."""
        ...

    async def send_return(
        self, account: UpstreamAccount, nik: str, return_number: str
    ) -> ReturnAnswer | Outcome:
        """Relay data balikan; an Outcome when a parameter check refused it."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
