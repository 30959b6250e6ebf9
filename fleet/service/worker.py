"""The store's one thread: kiosk messages parsed and written in batches, acknowledged after the
commit, and every other store call of the service run in turn with them.

paho's network thread hands each message over (`deliver`); the worker takes up to `batch_size`
of them, or what came within `batch_s` of the first, parses them with protocol.mqtt's strict
parsers, writes the batch in one store transaction, and only then sends their PUBACKs (in the
order received, as MQTT wants). A crash before the commit leaves them unacknowledged: the
broker delivers them again to the session, and the store's idempotency absorbs the copy.

A malformed payload is counted, logged by device, channel and field (never the payload),
acknowledged and dropped. If the store fails, the batch is kept (not acknowledged) and written
again after a pause that doubles up to `MAX_RETRY_S`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fleet.store.base import FleetStore, Ingest, Payload, StoreError
from protocol.mqtt import (
    Channel,
    PayloadError,
    TopicError,
    parse_ack,
    parse_health,
    parse_reported,
    parse_state,
    parse_topic,
    parse_usage,
)

_log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_RETRY_S = 30.0

_PARSERS: dict[Channel, Callable[[bytes], Payload]] = {
    Channel.STATE: parse_state,
    Channel.HEALTH: parse_health,
    Channel.USAGE: parse_usage,
    Channel.REPORTED: parse_reported,
    Channel.ACK: parse_ack,
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message as paho received it: `generation` names the connection (acks go only to the
    connection that delivered), `at` the receive time (Unix seconds)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    at: int


@dataclass(slots=True)
class IngestStats:
    """What this replica has handled (written by the worker thread only): `received` counts
    messages committed (or dropped as malformed) and acknowledged."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    malformed: int = 0
    batches: int = 0
    store_failures: int = 0


class _Call:
    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[FleetStore], Any]) -> None:
        self.fn = fn
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()


_STOP = object()
Acker = Callable[[int, int, int], None]  # (mid, qos, generation)


class StoreWorker(concurrent.futures.Executor):
    """The thread that owns the store (opened in it: SQLite connections stay in their thread).

    It is also an Executor: `loop.run_in_executor(worker, store.fleet)` runs a store call in
    its thread, in turn with the batches (the dashboard reads this way)."""

    def __init__(
        self,
        open_store: Callable[[], FleetStore],
        *,
        batch_size: int = 500,
        batch_s: float = 0.005,
        on_committed: Callable[[Sequence[Ingest]], None] | None = None,
        before_commit: Callable[[Sequence[Ingest]], None] | None = None,
    ) -> None:
        self._open = open_store
        self.batch_size = batch_size
        self.batch_s = batch_s
        self.on_committed = on_committed
        self.before_commit = before_commit  # a test's hook: block or fail before the commit
        self.ack: Acker = lambda mid, qos, generation: None
        self.stats = IngestStats()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="fleet-store", daemon=True)
        self._opened = concurrent.futures.Future[FleetStore]()
        self._stopping = threading.Event()
        self._abandon = False
        self.backend = "?"

    # --- lifetime ---------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> FleetStore:
        """Start the thread and open the store in it (StoreError if it cannot be opened)."""
        self._thread.start()
        store = self._opened.result(timeout)
        self.backend = store.backend
        return store

    def stop(self, timeout: float = 30.0) -> None:
        """Write what was received, then close the store and end the thread."""
        self._stopping.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def abandon_soon(self) -> None:
        """From now on write and acknowledge nothing (a crash, for tests)."""
        self._abandon = True

    def abandon(self) -> None:
        """End without writing or acknowledging what is pending (a crash, for tests)."""
        self._abandon = True
        self.stop()

    # --- calls from other threads -------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> None:
        """A received message (paho's thread)."""
        self._queue.put(delivery)

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        """Run `fn(*args, **kwargs)` in the store's thread (the Executor interface)."""
        job = _Call(lambda store: fn(*args, **kwargs))
        self._queue.put(job)
        return job.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The Executor interface: stop()."""
        self.stop()

    async def call(self, fn: Callable[[FleetStore], T]) -> T:
        """Run `fn(store)` in the store's thread, in turn with the batches."""
        job = _Call(fn)
        self._queue.put(job)
        result: T = await asyncio.wrap_future(job.future)
        return result

    # --- the thread -------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            store = self._open()
        except BaseException as err:
            self._opened.set_exception(err)
            return
        self._opened.set_result(store)
        try:
            self._loop(store)
        finally:
            try:
                store.close()
            except StoreError as err:
                _log.warning("closing the %s store: %s", store.backend, err)

    def _loop(self, store: FleetStore) -> None:
        get = self._queue.get
        while True:
            item = get()
            pending: list[Delivery] = []
            if isinstance(item, Delivery):
                pending.append(item)
                item = None
                deadline = time.monotonic() + self.batch_s
                while len(pending) < self.batch_size:
                    left = deadline - time.monotonic()
                    try:
                        nxt = get(timeout=left) if left > 0 else get(block=False)
                    except queue.Empty:
                        break
                    if not isinstance(nxt, Delivery):
                        item = nxt
                        break
                    pending.append(nxt)
            if pending and not self._abandon:
                self._write(store, pending)
            if item is _STOP:
                return
            if isinstance(item, _Call):
                self._run(store, item)

    def _run(self, store: FleetStore, job: _Call) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.future.set_result(job.fn(store))
        except BaseException as err:  # handed to the awaiting task
            job.future.set_exception(err)

    def _write(self, store: FleetStore, deliveries: list[Delivery]) -> None:
        batch = [i for i in map(self._parse, deliveries) if i is not None]
        # one lock order for concurrent replicas (PostgreSQL): by device, each device's in order
        batch.sort(key=lambda i: i.device)
        pause = 0.5
        while batch:
            try:
                if self.before_commit is not None:
                    self.before_commit(batch)
                if self._abandon:
                    return
                result = store.ingest(batch)
                self.stats.stored += result.stored
                self.stats.duplicates += result.duplicates
                break
            except StoreError as err:
                self.stats.store_failures += 1
                _log.error("the %s store failed (%s): again in %.1f s", store.backend, err, pause)
                if self._stopping.wait(pause):
                    return  # not acknowledged: the broker keeps them for the next start
                pause = min(pause * 2, MAX_RETRY_S)
        self.stats.received += len(deliveries)
        self.stats.batches += 1
        ack = self.ack
        for d in deliveries:
            if d.qos:
                ack(d.mid, d.qos, d.generation)
        if batch and self.on_committed is not None:
            self.on_committed(batch)

    def _parse(self, d: Delivery) -> Ingest | None:
        try:
            ref = parse_topic(d.topic)
            parser = _PARSERS.get(ref.channel)
            if parser is None:
                raise TopicError("not a channel the service stores")
        except TopicError as err:
            self.stats.malformed += 1
            _log.warning("dropped a message on an unexpected topic: %s", err)
            return None
        try:
            return Ingest(ref.device, parser(d.payload), d.at)
        except PayloadError as err:
            self.stats.malformed += 1
            _log.warning(
                "dropped a malformed %s message of %s: field %s %s",
                ref.channel.value,
                ref.device,
                err.field,
                err.reason,
            )
            return None
