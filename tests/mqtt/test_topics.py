"""protocol.mqtt: topic names, golden payloads, strict parsers."""

from __future__ import annotations

import dataclasses

import pytest

from protocol.mqtt import (
    AckMessage,
    AckStatus,
    Channel,
    DeviceStatus,
    HealthMessage,
    PayloadError,
    Presence,
    RejectedDocument,
    ReportedMessage,
    StateMessage,
    TopicError,
    TopicRef,
    UsageMessage,
    ack_topic,
    command_topic,
    device_filter,
    encode,
    fleet_filter,
    parse_ack,
    parse_health,
    parse_reported,
    parse_state,
    parse_topic,
    parse_usage,
    topic,
)
from protocol.outcomes import Outcome

NONCE = "0123456789abcdef0123456789abcdef"


def test_topic_names() -> None:
    assert topic("KIOSK-A1", Channel.STATE) == "kiosk/v1/KIOSK-A1/state"
    assert command_topic("KIOSK-A1", NONCE) == f"kiosk/v1/KIOSK-A1/cmd/{NONCE}"
    assert ack_topic("KIOSK-A1", NONCE) == f"kiosk/v1/KIOSK-A1/cmd/{NONCE}/ack"
    assert device_filter("KIOSK-A1") == "kiosk/v1/KIOSK-A1/#"
    assert fleet_filter(Channel.HEALTH) == "kiosk/v1/+/health"
    assert parse_topic(ack_topic("K1", NONCE)) == TopicRef("K1", Channel.ACK, NONCE)
    assert parse_topic("kiosk/v1/K1/usage") == TopicRef("K1", Channel.USAGE)
    for bad in ("kiosk/v1/K1", "kiosk/v2/K1/state", "kiosk/v1/K1/cmd/xyz", "kiosk/v1/+/state"):
        with pytest.raises(TopicError):
            parse_topic(bad)
    with pytest.raises(TopicError):
        topic("KIOSK/A1", Channel.STATE)  # a device id cannot open another level
    with pytest.raises(TopicError):
        topic("K1", Channel.CMD)


def test_golden_payloads() -> None:
    state = StateMessage(Presence.ONLINE, "00112233aabbccdd", 1767225600, "0.1.0")
    assert encode(state.to_json()) == (
        b'{"agent":"0.1.0","conn":"00112233aabbccdd","status":"online","ts":1767225600,"v":1}'
    )
    usage = UsageMessage(12, "2026-01-01", 7, {Outcome.FOUND: 3, Outcome.TIMEOUT: 1})
    assert encode(usage.to_json()) == (
        b'{"counts":{"FOUND":3,"TIMEOUT":1},"day":"2026-01-01","seq":12,"tz":7,"v":1}'
    )
    reported = ReportedMessage(9, True, ("reader_deactivated",), False, 1767225601)
    assert encode(reported.to_json()) == (
        b'{"applied_at":1767225601,"sanctions":["reader_deactivated"],"state":"deactivated",'
        b'"tampered":false,"v":1,"version":9}'
    )


def test_round_trips() -> None:
    health = HealthMessage(
        seq=3,
        ts=1767225600,
        reader=DeviceStatus.OK,
        sam=DeviceStatus.OK,
        sensor=DeviceStatus.FAULT,
        tamper=False,
        deactivated=False,
        gateway_reachable=True,
        gateway_rtt_ms=4.2,
        cert_days_left=200,
        cpu_temp_c=51.3,
        mem_used_pct=40.0,
        disk_free_pct=80.5,
        uptime_s=3600,
        agent="0.1.0",
    )
    assert parse_health(encode(health.to_json())) == health
    assert "mcu" not in health.to_json()
    with_mcu = dataclasses.replace(health, mcu_link_up=True, mcu_resets=2, mcu_tamper_latched=False)
    assert with_mcu.to_json()["mcu"] == {"link_up": True, "resets": 2, "tamper_latched": False}
    assert parse_health(encode(with_mcu.to_json())) == with_mcu
    usage = UsageMessage(1, "2026-01-01", 8, {Outcome.NOT_FOUND: 2})
    assert parse_usage(encode(usage.to_json())) == usage
    rep = ReportedMessage(2, False, (), True, 5, RejectedDocument("stale_version", 6, 1))
    assert parse_reported(encode(rep.to_json())) == rep
    ack = AckMessage(NONCE, AckStatus.REJECTED, 7, "expired")
    assert parse_ack(encode(ack.to_json())) == ack
    lost = StateMessage(Presence.LOST, "00112233aabbccdd", 1)
    assert parse_state(encode(lost.to_json())) == lost


@pytest.mark.parametrize(
    ("parse", "raw", "field"),
    [
        (parse_state, b'{"v":1,"status":"gone","conn":"00112233aabbccdd","ts":1}', "status"),
        (parse_state, b'{"v":2,"status":"online","conn":"00112233aabbccdd","ts":1}', "v"),
        (parse_usage, b'{"v":1,"seq":1,"day":"2026-01-01","tz":7,"counts":{"X":1}}', "counts"),
        (
            parse_usage,
            b'{"v":1,"seq":1,"day":"2026-01-01","tz":7,"counts":{"FOUND":-1}}',
            "counts.FOUND",
        ),
        (parse_usage, b'{"v":1,"seq":1,"day":"2026-01-01","tz":7,"counts":{},"x":1}', "x"),
        (
            parse_usage,
            b'{"v":1,"seq":1,"day":"2026-01-01","tz":7,"counts":{},"3313061704870002":1}',
            "<field>",
        ),
        (
            parse_reported,
            b'{"v":1,"version":1,"state":"active","sanctions":["ok",7]}',
            "sanctions[1]",
        ),
        (parse_ack, b'{"v":1,"id":"x","status":"done","ts":1}', "id"),
        (parse_reported, b'{"v":1,"version":1,"state":"on"}', "state"),
        (parse_health, b"[]", "payload"),
        (parse_health, b'{"v":1,"v":1}', "payload"),
        (parse_health, b"\xff", "payload"),
    ],
)
def test_strict_parsers(parse: object, raw: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(raw)  # type: ignore[operator]
    assert caught.value.field == field
