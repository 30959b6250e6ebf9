"""Frame codec of the firmware against the golden vectors shared with the Pi side."""

from firmware import link
from tests.firmware.vectors import load_vectors, unhex

VECTORS = load_vectors()
KNOWN = {"mcu": link.PI_TYPES, "pi": link.MCU_TYPES}  # what each side's decoder accepts


def test_crc16_check_values():
    for vector in VECTORS["crc16"]:
        assert link.crc16(unhex(vector["data"])) == vector["crc"]


def test_cobs_examples_encode_and_decode():
    for vector in VECTORS["cobs"]:
        decoded = unhex(vector["decoded"])
        encoded = unhex(vector["encoded"])
        assert link.cobs_encode(decoded) == encoded
        assert link.cobs_decode(encoded) == decoded


def test_golden_frames_encode_to_the_same_wire_bytes():
    for vector in VECTORS["frames"]:
        wire = link.encode(vector["type"], vector["seq"], unhex(vector["payload"]))
        assert wire == unhex(vector["wire"]), vector["name"]


def test_golden_frames_decode_on_the_receiving_side():
    for vector in VECTORS["frames"]:
        receiver = "pi" if vector["from"] == "mcu" else "mcu"
        decoder = link.Decoder(KNOWN[receiver])
        frames = decoder.feed(unhex(vector["wire"]))
        assert frames == [(vector["type"], vector["seq"], unhex(vector["payload"]))], vector["name"]
        assert decoder.frames == 1


def test_wire_bytes_hold_no_zero_inside_a_frame():
    for vector in VECTORS["frames"]:
        wire = unhex(vector["wire"])
        assert wire[0] == 0 and wire[-1] == 0
        assert 0 not in wire[1:-1], vector["name"]


def test_invalid_frames_are_dropped_and_counted_by_kind():
    for vector in VECTORS["invalid"]:
        decoder = link.Decoder(KNOWN[vector["to"]])
        assert decoder.feed(unhex(vector["wire"])) == [], vector["name"]
        counts = {
            "truncated": decoder.truncated,
            "corrupt": decoder.corrupt,
            "unknown": decoder.unknown,
        }
        expected = {"truncated": 0, "corrupt": 0, "unknown": 0}
        expected[vector["drop"]] = 1
        assert counts == expected, vector["name"]


def test_stream_resynchronises_after_noise_and_a_half_frame():
    for vector in VECTORS["streams"]:
        decoder = link.Decoder(KNOWN[vector["to"]])
        frames = decoder.feed(unhex(vector["wire"]))
        assert [[f[0], f[1], f[2].hex()] for f in frames] == vector["frames"]
        assert decoder.truncated == vector["dropped"]["truncated"]
        assert decoder.corrupt == vector["dropped"]["corrupt"]
        assert decoder.unknown == vector["dropped"]["unknown"]


def test_stream_split_into_single_bytes_decodes_the_same():
    vector = VECTORS["streams"][0]
    decoder = link.Decoder(KNOWN[vector["to"]])
    frames = []
    for byte in unhex(vector["wire"]):
        frames.extend(decoder.feed(bytes((byte,))))
    assert [[f[0], f[1], f[2].hex()] for f in frames] == vector["frames"]


def test_half_frame_then_silence_is_expired_as_truncated():
    wire = link.encode(link.HEARTBEAT, 1)
    decoder = link.Decoder(link.PI_TYPES)
    assert decoder.feed(wire[:-3]) == []
    assert decoder.pending()
    decoder.expire()
    assert not decoder.pending()
    assert decoder.truncated == 1
    assert decoder.feed(wire) == [(link.HEARTBEAT, 1, b"")]


def test_empty_frames_between_delimiters_are_ignored():
    decoder = link.Decoder(link.PI_TYPES)
    assert decoder.feed(b"\x00" * 10) == []
    assert (decoder.truncated, decoder.corrupt, decoder.unknown) == (0, 0, 0)


def test_encode_refuses_out_of_range_fields():
    for args in ((256, 0, b""), (1, -1, b""), (1, 0, bytes(link.MAX_PAYLOAD + 1))):
        try:
            link.encode(args[0], args[1], args[2])
        except ValueError:
            continue
        raise AssertionError("accepted " + repr(args))


def test_largest_payload_round_trips():
    payload = bytes(range(link.MAX_PAYLOAD))
    wire = link.encode(link.STATUS, 9, payload)
    assert len(wire) == link.MAX_ENCODED + 2
    assert link.Decoder(link.MCU_TYPES).feed(wire) == [(link.STATUS, 9, payload)]
