"""BER-TLV as ISO/IEC 7816-4 uses it: tags of one to three bytes, lengths of one to five bytes.

Pure code. Parsing does not copy values: a `Tlv` holds a memoryview into the parsed buffer, so a
caller can copy a value straight into a `bytearray` and wipe the buffer afterwards (release the
views first). Malformed input raises MalformedCardDataError and nothing else. Padding bytes (00,
FF) between objects and the indefinite length form are not accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hardware.errors import MalformedCardDataError

Buffer = bytes | bytearray | memoryview

MAX_TAG_BYTES = 3
MAX_LENGTH_BYTES = 4  # after the 8X byte: lengths up to 2**32 - 1


@dataclass(frozen=True, slots=True)
class Tlv:
    """One data object. `value` is a view into the buffer it was parsed from."""

    tag: int
    value: memoryview

    @property
    def constructed(self) -> bool:
        """True if the tag marks a constructed object (bit 6 of its first byte)."""
        return bool(_first_tag_byte(self.tag) & 0x20)

    def children(self) -> list[Tlv]:
        """Parse the value as a sequence of data objects."""
        return parse_all(self.value)

    def __repr__(self) -> str:
        return f"Tlv(tag={self.tag:X}, <{len(self.value)} bytes>)"


def _first_tag_byte(tag: int) -> int:
    return tag >> (8 * ((max(tag.bit_length(), 1) - 1) // 8))


def encode_tag(tag: int) -> bytes:
    """The bytes of a tag given as an integer (0x5F2E -> 5F 2E); ValueError if not a BER tag."""
    if tag <= 0:
        raise ValueError("tag must be positive")
    raw = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    if len(raw) > MAX_TAG_BYTES or raw[0] == 0xFF:
        raise ValueError(f"not a BER tag: {tag:X}")
    multi = raw[0] & 0x1F == 0x1F
    if not multi and len(raw) > 1:
        raise ValueError(f"not a BER tag: {tag:X}")
    if multi:
        rest = raw[1:]
        if not rest or rest[0] == 0x80 or rest[-1] & 0x80:
            raise ValueError(f"not a BER tag: {tag:X}")
        if any(b & 0x80 == 0 for b in rest[:-1]):
            raise ValueError(f"not a BER tag: {tag:X}")
    return raw


def encode_length(length: int) -> bytes:
    """Definite length in the shortest form: 00..7F, 81 XX, 82 XXXX, 83 ..., 84 ...."""
    if length < 0:
        raise ValueError("negative length")
    if length < 0x80:
        return bytes((length,))
    size = (length.bit_length() + 7) // 8
    if size > MAX_LENGTH_BYTES:
        raise ValueError("length too large for BER-TLV")
    return bytes((0x80 | size,)) + length.to_bytes(size, "big")


def build(tag: int, value: Buffer) -> bytes:
    """Encode one data object."""
    return encode_tag(tag) + encode_length(len(value)) + bytes(value)


def build_constructed(tag: int, children: Iterable[Buffer]) -> bytes:
    """Encode a constructed data object from already encoded children."""
    body = b"".join(bytes(c) for c in children)
    return build(tag, body)


def _view(data: Buffer) -> memoryview:
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def read_tag(data: memoryview, pos: int) -> tuple[int, int]:
    """Read a tag at `pos`; return (tag, position after it)."""
    end = len(data)
    if pos >= end:
        raise MalformedCardDataError("TLV truncated in its tag")
    first = data[pos]
    if first in (0x00, 0xFF):
        raise MalformedCardDataError("TLV tag byte 00/FF (padding) where a tag was expected")
    tag = first
    pos += 1
    if first & 0x1F != 0x1F:
        return tag, pos
    for i in range(MAX_TAG_BYTES - 1):
        if pos >= end:
            raise MalformedCardDataError("TLV truncated in a multi-byte tag")
        b = data[pos]
        if i == 0 and b == 0x80:
            raise MalformedCardDataError("TLV tag with a leading zero subsequent byte")
        tag = (tag << 8) | b
        pos += 1
        if not b & 0x80:
            return tag, pos
    raise MalformedCardDataError("TLV tag longer than three bytes")


def read_length(data: memoryview, pos: int) -> tuple[int, int]:
    """Read a definite length at `pos`; return (length, position after it)."""
    end = len(data)
    if pos >= end:
        raise MalformedCardDataError("TLV truncated in its length")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    size = first & 0x7F
    if size == 0:
        raise MalformedCardDataError("TLV indefinite length is not allowed")
    if size > MAX_LENGTH_BYTES:
        raise MalformedCardDataError("TLV length field longer than five bytes")
    if pos + size > end:
        raise MalformedCardDataError("TLV truncated in a long-form length")
    return int.from_bytes(data[pos : pos + size], "big"), pos + size


def parse_one(data: Buffer, pos: int = 0) -> tuple[Tlv, int]:
    """Parse the data object at `pos`; return it and the position after it."""
    view = _view(data)
    tag, pos = read_tag(view, pos)
    length, pos = read_length(view, pos)
    end = pos + length
    if end > len(view):
        raise MalformedCardDataError("TLV value runs past the end of the data")
    return Tlv(tag, view[pos:end]), end


def iter_tlv(data: Buffer) -> Iterator[Tlv]:
    """Yield the data objects that make up all of `data`."""
    view = _view(data)
    pos = 0
    while pos < len(view):
        tlv, pos = parse_one(view, pos)
        yield tlv


def parse_all(data: Buffer) -> list[Tlv]:
    """Parse `data` as a sequence of data objects that covers it exactly."""
    return list(iter_tlv(data))


def parse_single(data: Buffer) -> Tlv:
    """Parse `data` as exactly one data object with nothing after it."""
    view = _view(data)
    tlv, end = parse_one(view)
    if end != len(view):
        raise MalformedCardDataError("trailing bytes after the TLV object")
    return tlv


def index_unique(objects: Iterable[Tlv]) -> dict[int, Tlv]:
    """Map tag to object; MalformedCardDataError if a tag occurs twice."""
    out: dict[int, Tlv] = {}
    for tlv in objects:
        if tlv.tag in out:
            raise MalformedCardDataError(f"TLV tag {tlv.tag:X} occurs twice")
        out[tlv.tag] = tlv
    return out


def require(objects: dict[int, Tlv], tag: int) -> Tlv:
    """The object with `tag`; MalformedCardDataError if it is missing."""
    try:
        return objects[tag]
    except KeyError:
        raise MalformedCardDataError(f"TLV tag {tag:X} missing") from None
