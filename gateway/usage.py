"""Answer counts per institution, local day and outcome, batched in memory and flushed to the
store every few seconds (and on shutdown)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from common.tasks import cancel_and_wait
from gateway.errors import StoreError
from gateway.periodic import every
from gateway.store.base import Store, UsageKey

log = logging.getLogger(__name__)


class UsageCounter:
    """Counts answers; `flush()` writes them to the store."""

    def __init__(self, store: Store, flush_s: float) -> None:
        self._store = store
        self._flush_s = flush_s
        self._pending: Counter[UsageKey] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, institution: str, day: str, outcome: str) -> None:
        """Count one answer."""
        self._pending[institution, day, outcome] += 1

    async def flush(self) -> None:
        """Write pending counts; on a store failure they stay pending for the next try."""
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, Counter()
            try:
                await self._store.add_usage(batch)
            except StoreError:
                self._pending.update(batch)
                raise

    def start(self) -> None:
        """Flush periodically in the background."""
        job = every(self._flush_s, self.flush, "usage flush failed, will retry")
        self._task = asyncio.create_task(job, name="gateway-usage-flush")

    async def stop(self) -> None:
        """Stop the background flush and write what is pending."""
        await cancel_and_wait(self._task)
        self._task = None
        try:
            await self.flush()
        except StoreError as err:
            log.error("usage counts lost at shutdown: %s", err)
