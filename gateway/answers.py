"""Answers of the gateway's API: status, JSON body and outcome code (kept sealed by
gateway.replay for the replay window, never in the clear).
"""

from __future__ import annotations

from typing import NamedTuple

from protocol.messages import encode_body, error_body


class Answer(NamedTuple):
    """An HTTP answer: status, JSON body, and the outcome code for the access log."""

    status: int
    body: bytes
    outcome: str
    cacheable: bool = True  # a decided answer, replayed for the same request id

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.outcome})"


def error_answer(status: int, code: str, message: str, field_name: str | None = None) -> Answer:
    """A 4xx/5xx answer with the shared error body; never replayed."""
    return Answer(status, encode_body(error_body(code, message, field_name)), code, cacheable=False)
