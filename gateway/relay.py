"""The relay: one verification or data balikan from an authenticated device to the upstream.

Order of checks for a verification: device (revoked, CRL, network cut, reader deactivated,
reader/SAM pinning) → replay of a known request id → institution active → user ID usable →
NIK format → anti-scraping → quota → upstream → element filter. Only decided answers are
counted (once per request id) and replayed; an upstream failure is neither.

The pipeline of one request is a generator that yields what it needs from outside: a coroutine
(a store call, a duplicate's answer), run as a task, or a `Start` (the upstream look-up), called
with the callback that resumes it. `Relay.start` drives it. A verification of a logged-in
institution so needs no task and no future: the upstream's answer resumes it straight from the
connection's data callback. `verify` and `send_return` are the awaitable forms.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import sys
from collections.abc import Callable, Coroutine, Generator, Mapping
from functools import partial
from typing import Any, cast

from common.clock import Clock, local_day
from gateway.accesslog import AccessLog
from gateway.answers import Answer, AnswerCache, error_answer
from gateway.antiscrape import AntiScrape
from gateway.errors import StoreError, UpstreamError
from gateway.logs import SECURITY, SafeFormatter
from gateway.peers import Peer
from gateway.registry import Registry
from gateway.resume import Done, Start, run_then, wait_done
from gateway.store.base import Store
from gateway.upstream.base import (
    PARAMETER_CHECKS,
    ReturnAnswer,
    Upstream,
    UpstreamAccount,
    UpstreamAnswer,
)
from gateway.usage import UsageCounter
from gateway.wire import valid_nik, verification_body
from protocol.messages import (
    ReaderIdentity,
    ReturnRequest,
    ReturnResponse,
    VerificationRequest,
    encode_body,
)
from protocol.outcomes import Outcome
from protocol.regions import utc_offset_hours

log = logging.getLogger(__name__)
VERIFY = "/v1/verifications"
RETURNS = "/v1/returns"
Need = Coroutine[Any, Any, object] | Start
_DATA_RETURNED = frozenset(o for o in Outcome if o.info.data_returned)
Pipeline = Generator[Need, object, Answer]


def filter_elements(record: Mapping[str, str], permitted: frozenset[str]) -> dict[str, str]:
    """Only the elements the institution's PKS lists, whatever the upstream sent."""
    return {name: value for name, value in record.items() if name in permitted}


class Relay:
    """The decision pipeline between the HTTP API and the upstream adapter."""

    def __init__(
        self,
        registry: Registry,
        store: Store,
        upstream: Upstream,
        accounts: dict[str, UpstreamAccount],
        antiscrape: AntiScrape,
        cache: AnswerCache,
        usage: UsageCounter,
        clock: Clock,
        claim_ttl_s: float,
        access: AccessLog,
    ) -> None:
        self._registry = registry
        self._store = store
        self._upstream = upstream
        self._accounts = accounts
        self._antiscrape = antiscrape
        self._cache = cache
        self._usage = usage
        self._clock = clock
        self._claim_ttl = claim_ttl_s
        self._access = access
        self.upstream_ok = True

    def start(
        self,
        peer: Peer,
        req: VerificationRequest | ReturnRequest,
        reply: Callable[[Answer], None],
    ) -> None:
        """Answer one request of a device; `reply` gets the answer, now or later."""
        self._drive(self._request(peer, req), cast(Done, reply), None)

    async def verify(self, peer: Peer, req: VerificationRequest) -> Answer:
        """Answer one verification request of a device."""
        return cast(Answer, await wait_done(partial(self.start, peer, req)))

    async def send_return(self, peer: Peer, req: ReturnRequest) -> Answer:
        """Relay one data balikan of a device."""
        return cast(Answer, await wait_done(partial(self.start, peer, req)))

    def _drive(self, pipeline: Pipeline, reply: Done, sent: object) -> None:
        """Resume the pipeline with `sent` (an exception is thrown in) up to its next need."""
        try:
            need = pipeline.throw(sent) if isinstance(sent, BaseException) else pipeline.send(sent)
        except StopIteration as end:
            reply(end.value)
            return
        except asyncio.CancelledError:  # a task it waited for was cancelled: shutting down
            reply(error_answer(503, Outcome.SERVICE_UNAVAILABLE.value, "the gateway is stopping"))
            return
        except Exception:
            log.error("unexpected error:\n%s", SafeFormatter().formatException(sys.exc_info()))
            reply(error_answer(500, "INTERNAL", "internal error"))
            return
        resume = partial(self._drive, pipeline, reply)
        if callable(need):
            need(resume)
        else:
            run_then(need, resume)

    def _request(self, peer: Peer, req: VerificationRequest | ReturnRequest) -> Pipeline:
        """Admit, answer once per request id, and write the access-log line."""
        started = self._clock.monotonic()
        timing = [0.0]
        reader = req.reader if isinstance(req, VerificationRequest) else None
        inst_id = self._admit(peer, req.request_id, reader)
        if isinstance(inst_id, Answer):
            answer = inst_id
            inst_id = "-"
        else:
            answer = yield from self._once(peer, inst_id, timing, req)
        self._access.write(
            RETURNS if reader is None else VERIFY,
            peer.name,
            inst_id,
            req.request_id,
            answer.status,
            answer.outcome,
            (self._clock.monotonic() - started) * 1000.0,
            timing[0],
        )
        return answer

    def _admit(self, peer: Peer, request_id: str, reader: ReaderIdentity | None) -> str | Answer:
        inst_id = self._registry.institution_of(peer)
        if inst_id is None:
            SECURITY.warning(
                "device_refused reason=no_institution device=%s request_id=%s",
                peer.name,
                request_id,
            )
            return error_answer(403, "FORBIDDEN", "the device is not registered to an institution")
        reason = self._registry.refusal(peer, inst_id, reader)
        if reason is not None:
            SECURITY.warning(
                "device_refused reason=%s device=%s institution=%s request_id=%s",
                reason,
                peer.name,
                inst_id,
                request_id,
            )
            return error_answer(
                403, Outcome.DEVICE_DEACTIVATED.value, "this device may not use the service"
            )
        return inst_id

    def _once(
        self,
        peer: Peer,
        inst_id: str,
        timing: list[float],
        req: VerificationRequest | ReturnRequest,
    ) -> Pipeline:
        verification = isinstance(req, VerificationRequest)
        key = (peer.name, ("v" if verification else "r") + req.request_id)
        fingerprint = self._cache.fingerprint(req.nik)
        seen = self._cache.get(key)
        if seen is not None:
            if not hmac.compare_digest(seen.fingerprint, fingerprint):
                SECURITY.warning(
                    "request_id_reused device=%s institution=%s request_id=%s",
                    peer.name,
                    inst_id,
                    req.request_id,
                )
                return error_answer(
                    409, "CONFLICT", "this request id was used for another request", "request_id"
                )
            if seen.answer is not None:
                return seen.answer
            return cast(Answer, (yield self._cache.replay(seen)))
        self._cache.start(key, fingerprint)
        try:
            counted = True
            if self._store.shared:
                counted = cast(bool, (yield self._claim(f"{key[0]}:{key[1]}")))
            if isinstance(req, VerificationRequest):
                answer = yield from self._decide(peer, inst_id, req, counted, timing)
            else:
                answer = yield from self._relay_return(inst_id, req, counted, timing)
        except BaseException as err:
            self._cache.fail(key, err)
            raise
        self._cache.finish(key, answer)
        return answer

    async def _claim(self, key: str) -> bool:
        try:
            return await self._store.claim_request(key, self._claim_ttl)
        except StoreError as err:
            log.warning("request claim failed, counting the request: %s", err)
            return True

    def _decide(
        self,
        peer: Peer,
        inst_id: str,
        req: VerificationRequest,
        counted: bool,
        timing: list[float],
    ) -> Pipeline:
        policy = self._registry.policies[inst_id]
        day = local_day(
            self._clock.time(), utc_offset_hours(self._registry.institutions[inst_id].province)
        )
        elements: dict[str, str] = {}
        outcome: Outcome | None = None
        if not policy.active:
            outcome = Outcome.INSTITUTION_INACTIVE
        elif not policy.user_usable():
            outcome = Outcome.USER_INACTIVE
        elif not valid_nik(req.nik):
            outcome = Outcome.INVALID_NIK_FORMAT
        elif counted and (rule := self._antiscrape.check(inst_id, peer.name, req.nik)):
            SECURITY.warning(
                "pattern_blocked rule=%s device=%s institution=%s request_id=%s",
                rule,
                peer.name,
                inst_id,
                req.request_id,
            )
            outcome = Outcome.PATTERN_BLOCKED
        took = False
        limit = policy.daily_limit()
        if outcome is None and counted and limit is not None:
            try:
                took = limit > 0 and bool((yield self._store.take_quota(inst_id, day, limit)))
            except StoreError as err:
                log.error("quota store failure institution=%s: %s", inst_id, err)
                return error_answer(
                    503, Outcome.SERVICE_UNAVAILABLE.value, "the quota store did not answer"
                )
            if not took:
                outcome = Outcome.QUOTA_EXHAUSTED
        if outcome is None:
            t0 = self._clock.monotonic()
            look_up = partial(self._upstream.start_verify, self._accounts[inst_id], req.nik)
            try:
                answer = cast(UpstreamAnswer, (yield look_up))
            except UpstreamError as err:
                timing[0] = (self._clock.monotonic() - t0) * 1000.0
                return (yield from self._unavailable(inst_id, day, took, err, req.request_id))
            timing[0] = (self._clock.monotonic() - t0) * 1000.0
            self.upstream_ok = True
            outcome = answer.outcome
            if took and outcome in PARAMETER_CHECKS:
                yield self._give_back(inst_id, day)
            if outcome in _DATA_RETURNED:
                elements = filter_elements(answer.record, policy.element_names)
        code = outcome.value
        if counted:
            self._usage.add(inst_id, day, code)
        return Answer(200, verification_body(req.request_id, outcome, elements), code)

    async def _give_back(self, inst_id: str, day: str) -> None:
        try:
            await self._store.give_back_quota(inst_id, day)
        except StoreError as err:
            log.warning("could not give back a quota unit: %s", err)

    def _unavailable(
        self, inst_id: str, day: str, took: bool, err: UpstreamError, request_id: str
    ) -> Pipeline:
        self.upstream_ok = False
        log.warning(
            "upstream failure kind=%s institution=%s request_id=%s", err.kind, inst_id, request_id
        )
        if took:
            yield self._give_back(inst_id, day)
        return error_answer(
            503, Outcome.SERVICE_UNAVAILABLE.value, "the population database did not answer"
        )

    def _relay_return(
        self, inst_id: str, req: ReturnRequest, counted: bool, timing: list[float]
    ) -> Pipeline:
        policy = self._registry.policies[inst_id]
        day = local_day(
            self._clock.time(), utc_offset_hours(self._registry.institutions[inst_id].province)
        )
        if not policy.active:
            reason: str | None = Outcome.INSTITUTION_INACTIVE.value
        elif not policy.user_usable():
            reason = Outcome.USER_INACTIVE.value
        else:
            t0 = self._clock.monotonic()
            account = self._accounts[inst_id]
            try:
                result = cast(
                    ReturnAnswer | Outcome,
                    (yield self._upstream.send_return(account, req.nik, req.return_number)),
                )
            except UpstreamError as err:
                timing[0] = (self._clock.monotonic() - t0) * 1000.0
                return (yield from self._unavailable(inst_id, day, False, err, req.request_id))
            timing[0] = (self._clock.monotonic() - t0) * 1000.0
            self.upstream_ok = True
            if isinstance(result, Outcome):
                reason = result.value
            else:
                reason = None if result.accepted else result.reason or "REJECTED"
        accepted = reason is None
        if counted:
            self._usage.add(inst_id, day, "RETURN_ACCEPTED" if accepted else "RETURN_REFUSED")
        body = encode_body(ReturnResponse(req.request_id, accepted, reason).to_json())
        return Answer(200, body, "RETURN_ACCEPTED" if accepted else f"RETURN_{reason}")
