"""ISO/IEC 7816-4 APDU codec: golden vectors, malformed input, status words, GET RESPONSE."""

from __future__ import annotations

import pytest

from hardware.card.apdu import (
    SW,
    CommandApdu,
    ResponseApdu,
    describe_sw,
    exchange,
    sw_bytes_available,
    sw_exact_length,
    sw_ok,
)
from hardware.errors import CardError, MalformedCardDataError

AID = bytes.fromhex("D3600000014B5450454C")

GOLDEN = [
    # case 1
    (CommandApdu(0x00, 0xA4, 0x04, 0x00), "00A40400"),
    # case 2 short: Le 8, and 256 encoded as 00
    (CommandApdu(0x00, 0x84, 0x00, 0x00, ne=8), "0084000008"),
    (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=256), "00B0000000"),
    # case 3 short
    (CommandApdu(0x00, 0xA4, 0x04, 0x0C, AID), "00A4040C0A" + AID.hex().upper()),
    # case 4 short
    (CommandApdu(0x00, 0xA4, 0x04, 0x00, AID, ne=256), "00A404000A" + AID.hex().upper() + "00"),
    # case 2 extended: Le 300, and 65536 encoded as 0000
    (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=300), "00B0000000012C"),
    (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=65536), "00B00000000000"),
    # case 3 extended (forced)
    (CommandApdu(0x80, 0x8A, 0x00, 0x00, b"\x01\x02", extended=True), "808A0000000002" + "0102"),
    # case 4 extended: Le has no leading 00 when there is data
    (
        CommandApdu(0x00, 0x82, 0x00, 0x00, b"\xaa\xbb\xcc", ne=1000, extended=True),
        "00820000000003AABBCC03E8",
    ),
]


@pytest.mark.parametrize(("command", "encoded"), GOLDEN)
def test_command_golden_vectors(command: CommandApdu, encoded: str) -> None:
    assert command.to_bytes().hex().upper() == encoded
    assert CommandApdu.parse(bytes.fromhex(encoded)) == command


def test_long_data_switches_to_extended() -> None:
    data = bytes(range(256)) + b"\x00" * 44
    raw = CommandApdu(0x00, 0xD6, 0x00, 0x00, data).to_bytes()
    assert raw[:7] == bytes.fromhex("00D6000000012C")
    assert raw[7:] == data
    assert CommandApdu.parse(raw).data == data


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "00",
        "00A404",
        "00A4040002AA",  # Lc 2, one byte of data
        "00A404000201020304",  # Lc 2, three bytes after it
        "00A404000000",  # extended marker, one length byte
        "00A40400000002AA",  # extended Lc 2, one byte
        "00A40400000000AABB",  # extended Lc of zero
    ],
)
def test_malformed_command_raises_domain_error(raw: str) -> None:
    with pytest.raises(MalformedCardDataError):
        CommandApdu.parse(bytes.fromhex(raw))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cla": 256},
        {"p1": -1},
        {"ne": 0},
        {"ne": 65537},
        {"data": bytes(65536)},
    ],
)
def test_bad_command_construction_is_a_programming_error(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"cla": 0, "ins": 0xB0, "p1": 0, "p2": 0, **kwargs}
    with pytest.raises(ValueError):
        CommandApdu(**args)  # type: ignore[arg-type]


def test_response_golden_vectors() -> None:
    assert ResponseApdu.parse(bytes.fromhex("9000")) == ResponseApdu(b"", 0x9000)
    r = ResponseApdu.parse(bytes.fromhex("AABB6282"))
    assert (r.data, r.sw, r.sw1, r.sw2) == (b"\xaa\xbb", 0x6282, 0x62, 0x82)
    assert r.to_bytes() == bytes.fromhex("AABB6282")
    assert ResponseApdu.parse([0x01, 0x90, 0x00]).data == b"\x01"  # pyscard gives lists


@pytest.mark.parametrize("raw", [b"", b"\x90", [0x100, 0x90, 0x00], [-1, 0, 0]])
def test_malformed_response_raises_domain_error(raw: bytes | list[int]) -> None:
    with pytest.raises(MalformedCardDataError):
        ResponseApdu.parse(raw)


def test_response_repr_hides_data() -> None:
    assert "3304" not in repr(ResponseApdu(b"3304014508920003", 0x9000))


def test_status_word_helpers() -> None:
    assert sw_ok(0x9000) and not sw_ok(0x6282)
    assert sw_bytes_available(0x6110) == 0x10
    assert sw_bytes_available(0x6100) == 256
    assert sw_bytes_available(0x9000) is None
    assert sw_exact_length(0x6C08) == 8
    assert sw_exact_length(0x6C00) == 256
    assert sw_exact_length(0x6700) is None
    assert describe_sw(SW.SECURITY_STATUS_NOT_SATISFIED) == "security status not satisfied"
    assert describe_sw(0x63C2) == "verification failed, counter in SW2"
    assert describe_sw(0x6112) == "more response bytes available"
    assert describe_sw(0x1234) == "unknown status"


class ScriptedCard:
    """A card stand-in that answers from a script and records what it was sent."""

    def __init__(self, answers: list[tuple[bytes, int]]) -> None:
        self.answers = answers
        self.sent: list[bytes] = []

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(apdu)
        return self.answers.pop(0) if self.answers else (b"", 0x9000)


def test_exchange_follows_get_response() -> None:
    card = ScriptedCard([(b"\x01\x02", 0x6103), (b"\x03\x04\x05", 0x9000)])
    data, sw = exchange(card, CommandApdu(0x00, 0xB0, 0, 0, ne=256))
    assert (data, sw) == (b"\x01\x02\x03\x04\x05", 0x9000)
    assert card.sent[1] == bytes.fromhex("00C0000003")


def test_exchange_resends_with_the_exact_le() -> None:
    card = ScriptedCard([(b"", 0x6C05), (b"12345", 0x9000)])
    assert exchange(card, CommandApdu(0x00, 0xB0, 0, 0, ne=256)) == (b"12345", 0x9000)
    assert card.sent[1] == bytes.fromhex("00B0000005")


def test_exchange_gives_up_on_endless_get_response() -> None:
    card = ScriptedCard([(b"\x00" * 255, 0x6100)] * 400)
    with pytest.raises(MalformedCardDataError):
        exchange(card, CommandApdu(0x00, 0xB0, 0, 0, ne=256))


def test_malformed_card_data_is_a_card_error_with_sw() -> None:
    err = MalformedCardDataError("bad", 0x6282)
    assert isinstance(err, CardError)
    assert err.sw == 0x6282
    assert "6282" in str(err)


def test_traffic_level_is_below_debug_and_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from hardware import TRAFFIC, traffic_enabled

    assert TRAFFIC < logging.DEBUG and logging.getLevelName(TRAFFIC) == "TRAFFIC"
    logger = logging.getLogger("hardware.test_traffic_probe")
    assert not traffic_enabled(logger)
    with caplog.at_level(TRAFFIC, logger="hardware.test_traffic_probe"):
        assert traffic_enabled(logger)
        assert traffic_enabled(logger)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "TRAFFIC LOGGING IS ON" in warnings[0].getMessage()
