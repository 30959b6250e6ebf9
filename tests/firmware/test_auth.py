"""HMAC-SHA256 of the firmware (MicroPython has no hmac module) and the tamper-clear MAC."""

from firmware.auth import clear_mac, clear_message, equal, hmac_sha256
from tests.firmware.vectors import load_vectors, unhex

# RFC 4231 test cases 1, 2, 3 and 6 (6: a key longer than the block size).
RFC4231 = (
    (
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 20,
        b"\xdd" * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
)


def test_hmac_sha256_matches_rfc4231():
    for key, data, expected in RFC4231:
        assert hmac_sha256(key, data) == unhex(expected)


def test_clear_mac_matches_the_shared_vectors():
    for vector in load_vectors()["clear"]:
        mac = clear_mac(unhex(vector["key"]), vector["counter"], vector["tamper_seq"])
        assert mac == unhex(vector["mac"])


def test_clear_message_binds_counter_and_latch():
    assert clear_message(1, 2) != clear_message(2, 1)
    assert clear_message(1, 2).endswith(b"\x00\x00\x00\x01\x00\x00\x00\x02")


def test_equal_compares_whole_strings():
    assert equal(b"abc", b"abc")
    assert not equal(b"abc", b"abd")
    assert not equal(b"abc", b"ab")
    assert equal(b"", b"")
