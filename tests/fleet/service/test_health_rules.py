"""Alerts decided by one health report: the state folder and the kiosk's clock."""

from __future__ import annotations

from fleet.service.rules import CLOCK_TOLERANCE_S, health_alerts
from fleet.store.base import AlertKind
from kiosk_sim.swarm import health_message
from protocol.mqtt import parse_health


def test_a_kiosk_that_cannot_write_its_state_folder_is_an_alert() -> None:
    assert health_alerts("K-1", health_message(1, 10, storage_ok=True)) == []
    (alert,) = health_alerts("K-1", health_message(1, 10, storage_ok=False))
    assert alert.kind is AlertKind.STORAGE_FAILURE and alert.detail.startswith("penyimpanan")


def test_a_kiosk_clock_beyond_the_tolerance_is_an_alert() -> None:
    assert health_alerts("K-1", health_message(1, 10, clock_offset_s=CLOCK_TOLERANCE_S)) == []
    (alert,) = health_alerts("K-1", health_message(1, 10, clock_offset_s=-86400))
    assert alert.kind is AlertKind.CLOCK_OFFSET and "-86400" in alert.detail


def test_storage_and_clock_fields_round_trip_and_are_optional() -> None:
    from protocol.mqtt import encode

    msg = health_message(3, 10, storage_ok=False, clock_offset_s=600)
    assert parse_health(encode(msg.to_json())) == msg
    plain = health_message(3, 10)
    assert "storage_ok" not in plain.to_json() and parse_health(encode(plain.to_json())) == plain


def test_a_clock_gone_off_is_a_change_the_kiosk_reports_at_once() -> None:
    base = health_message(1, 10, clock_offset_s=3)
    assert base.same_condition(health_message(2, 20, clock_offset_s=-CLOCK_TOLERANCE_S))
    off = health_message(2, 20, clock_offset_s=-86400 - 600)
    assert off.clock_off and not off.same_condition(base)
    assert off.same_condition(health_message(3, 30, clock_offset_s=-86400 - 601))
