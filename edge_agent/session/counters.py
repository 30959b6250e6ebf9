"""The outcome counter: all that remains of a session once it is wiped."""

from __future__ import annotations

import logging
from collections import Counter

from edge_agent.errors import StorageFailure
from protocol.outcomes import Outcome

_log = logging.getLogger(__name__)


class OutcomeCounter:
    """Sessions per outcome since the agent started (in memory; persisted by a later issue)."""

    def __init__(self) -> None:
        self._counts: Counter[Outcome] = Counter()

    def add(self, outcome: Outcome) -> None:
        """Count one more session that ended in `outcome`."""
        self._counts[outcome] += 1

    def get(self, outcome: Outcome) -> int:
        """Sessions that ended in `outcome`."""
        return self._counts[outcome]

    def total(self) -> int:
        """All sessions counted."""
        return sum(self._counts.values())

    def snapshot(self) -> dict[str, int]:
        """Counts by outcome code, only the outcomes seen."""
        return {o.value: n for o, n in sorted(self._counts.items(), key=lambda kv: kv[0].value)}


def count_before_showing(counter: OutcomeCounter, outcome: Outcome) -> Outcome:
    """Count `outcome` (durably, where the counter has an outbox); what may be shown now.

    STORAGE_FAILURE if it could not be counted: an answer nobody counted is never shown.
    """
    try:
        counter.add(outcome)
    except StorageFailure as err:
        _log.error("outcome %s not counted, so not shown: %s", outcome.value, err)
        return Outcome.STORAGE_FAILURE
    return outcome
