"""What one verification session leaves behind: its report, without personal data."""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.outcomes import Outcome


@dataclass(frozen=True, slots=True)
class SessionReport:
    """What one session leaves for logs and the bench: no personal data."""

    outcome: Outcome
    request_id: str | None
    tries: int
    total: float  # seconds from the card to idle (perf_counter)
    waited: float  # of which waiting for devices, the gateway, the citizen and timers
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def own(self) -> float:
        """Seconds the agent itself spent (total minus waits)."""
        return max(0.0, self.total - self.waited)
