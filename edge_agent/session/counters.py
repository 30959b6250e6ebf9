"""The outcome counter: all that remains of a session once it is wiped."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from edge_agent.errors import StorageFailure
from protocol.outcomes import Outcome

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Counted:
    """An outcome counted to be shown, and the id its result screen carries (None: not shown)."""

    outcome: Outcome
    result_id: str | None = None


class OutcomeCounter:
    """Sessions per outcome since the agent started (in memory; OutboxCounter persists them)."""

    def __init__(self) -> None:
        self._counts: Counter[Outcome] = Counter()

    def add(self, outcome: Outcome, shown: bool = False) -> str:
        """Count one more session that ended in `outcome`; an id for its result screen.

        `shown`: a result screen will show it (a durable counter remembers it until
        `delivered`, so that a restart in between shows it then).
        """
        self._counts[outcome] += 1
        return f"m{self.total()}"

    def delivered(self, result_id: str) -> None:
        """The result screen `result_id` reached the page."""

    def unshown(self) -> Counted | None:
        """A result counted to be shown that never reached a page (before a restart)."""
        return None

    def get(self, outcome: Outcome) -> int:
        """Sessions that ended in `outcome`."""
        return self._counts[outcome]

    def total(self) -> int:
        """All sessions counted."""
        return sum(self._counts.values())

    def snapshot(self) -> dict[str, int]:
        """Counts by outcome code, only the outcomes seen."""
        return {o.value: n for o, n in sorted(self._counts.items(), key=lambda kv: kv[0].value)}


def count_before_showing(counter: OutcomeCounter, outcome: Outcome, shown: bool = True) -> Counted:
    """Count `outcome` (durably, where the counter has an outbox); what may be shown now.

    STORAGE_FAILURE if it could not be counted: an answer nobody counted is never shown.
    """
    try:
        result_id = counter.add(outcome, shown)
    except StorageFailure as err:
        _log.error("outcome %s not counted, so not shown: %s", outcome.value, err)
        return Counted(Outcome.STORAGE_FAILURE)
    return Counted(outcome, result_id if shown else None)
