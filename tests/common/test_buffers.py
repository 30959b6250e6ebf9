"""Personal-data buffers: overwritten with zeros, then dropped; a live view keeps zeros only."""

from __future__ import annotations

from common.buffers import wipe, wipe_all


def test_wipe_overwrites_then_empties_every_buffer() -> None:
    one, two = bytearray(b"3304015609870001"), bytearray(b"AYU LESTARI")
    wipe(one, two)
    assert one == bytearray() and two == bytearray()


def test_wipe_with_a_live_view_leaves_zeros() -> None:
    buf = bytearray(b"3304015609870001")
    view = memoryview(buf)  # a driver thread still holds it: the buffer cannot shrink
    wipe(buf)
    assert bytes(view) == bytes(16)
    view.release()


def test_wipe_all_wipes_the_values_and_clears_the_mapping() -> None:
    held = {"nik": bytearray(b"3304015609870001"), "name": bytearray(b"AYU")}
    values = list(held.values())
    wipe_all(held)
    assert held == {} and all(v == bytearray() for v in values)
