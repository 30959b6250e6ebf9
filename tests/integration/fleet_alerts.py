"""Awaiting an alert of the stack's fleet service, as its webhook delivers it to the admins."""

from __future__ import annotations

from fleet.store.base import AlertKind
from kiosk_sim.alert_inbox import CLEARED, RAISED
from kiosk_sim.stack import Stack


async def until_alert(
    stack: Stack, kind: AlertKind, device: str, *, raised: bool = True, timeout: float = 20
) -> None:
    """Return once the alert `kind` of `device` was delivered raised (or, `raised=False`,
    cleared)."""
    assert stack.alerts is not None, "the stack runs no fleet service"
    state = RAISED if raised else CLEARED
    took = await stack.alerts.until(kind.value, device, state, timeout)
    assert took is not None, f"no {kind.value} alert of {device} {state} within {timeout:g} s"
