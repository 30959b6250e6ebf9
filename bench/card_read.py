"""Card-read benchmark: APDU round trips through the real pcscd + vpcd, and whole KTP-el reads.

    .venv/bin/python -m bench.card_read [--apdus 1000] [--reads 50]

Starts a private pcscd, puts a virtual KTP-el card and SAM in its two vpcd readers (the virtual
devices run in this process), then times (1) GET CHALLENGE round trips through pyscard, pcscd
and vpcd, and (2) complete reads (SELECT, mutual authentication with the SAM, protected reads
of the identity file and both templates) through hardware.card.pcsc.PcscCardReader.
Targets: APDU round trip median under 1 ms, whole read median under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

APDU_TARGET_MS = 1.0
READ_TARGET_MS = 50.0
GET_CHALLENGE = [0x00, 0x84, 0x00, 0x00, 0x08]
SELECT_KTPEL = [0x00, 0xA4, 0x04, 0x0C, 0x0A, *bytes.fromhex("D3600000014B5450454C")]


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _apdu_round_trips(reader_name: str, count: int) -> list[float]:
    from smartcard import scard

    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    hresult, handle, protocol = scard.SCardConnect(
        context, reader_name, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
    )
    if hresult != scard.SCARD_S_SUCCESS:
        raise SystemExit(f"connect failed: {scard.SCardGetErrorMessage(hresult)}")
    try:
        scard.SCardTransmit(handle, protocol, SELECT_KTPEL)
        for _ in range(20):  # warm up
            scard.SCardTransmit(handle, protocol, GET_CHALLENGE)
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            hresult, response = scard.SCardTransmit(handle, protocol, GET_CHALLENGE)
            samples.append(time.perf_counter() - start)
            if hresult != scard.SCARD_S_SUCCESS or response[-2:] != [0x90, 0x00]:
                raise SystemExit("GET CHALLENGE failed")
        return samples
    finally:
        scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD)
        scard.SCardReleaseContext(context)


def _reads(reader: object, count: int) -> list[float]:
    from hardware.card.pcsc import PcscCardReader

    assert isinstance(reader, PcscCardReader)
    reader.read().wipe()  # warm up
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        contents = reader.read()
        samples.append(time.perf_counter() - start)
        contents.wipe()
    return samples


def _line(name: str, samples: list[float], target_ms: float) -> str:
    median = statistics.median(samples) * 1000
    p90 = _percentile(samples, 0.9) * 1000
    verdict = "OK" if median < target_ms else "OVER TARGET"
    return (
        f"{name:<34} n={len(samples):<5} median {median:7.3f} ms   p90 {p90:7.3f} ms   "
        f"(target < {target_ms:g} ms: {verdict})"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.card_read", description=__doc__)
    parser.add_argument("--apdus", type=int, default=1000, help="GET CHALLENGE round trips")
    parser.add_argument("--reads", type=int, default=50, help="whole card reads")
    args = parser.parse_args(argv)

    from hardware.card.ktpel import KtpelProfile
    from hardware.card.pcsc import PcscCardReader
    from hardware.card.sam_auth import MemoryHostKey
    from kiosk_sim.pcscd import PcscdError, PcscdProcess
    from simulators.card import VirtualSam, card_for
    from simulators.vpcd import VirtualSlot

    with tempfile.TemporaryDirectory(prefix="bench-pcscd-") as tmp:
        try:
            daemon = PcscdProcess(Path(tmp)).start()
        except PcscdError as err:
            print(f"bench.card_read: {err}", file=sys.stderr)
            return 1
        try:
            daemon.use_in_this_process()
            card_slot, sam_slot = VirtualSlot(daemon.card_port), VirtualSlot(daemon.sam_port)
            host_key = os.urandom(16)  # the SAM bound to a key held in memory (a kiosk: its token)
            sam_slot.insert(VirtualSam(host_key=host_key))
            card_slot.insert(card_for("ayu"))
            profile = KtpelProfile(host_key=MemoryHostKey(host_key))
            reader = PcscCardReader(daemon.card_reader, daemon.sam_reader, profile)
            reader.wait_for_card(5.0)
            apdus = _apdu_round_trips(daemon.card_reader, args.apdus)
            reads = _reads(reader, args.reads)
            reader.close()
            card_slot.close()
            sam_slot.close()
        finally:
            daemon.stop()

    print("KTP-el card stack through pcscd + vpcd (virtual card and SAM in this process)")
    print(_line("APDU round trip (GET CHALLENGE)", apdus, APDU_TARGET_MS))
    print(_line("whole card read (14 + 5 APDUs)", reads, READ_TARGET_MS))
    ok = statistics.median(apdus) * 1000 < APDU_TARGET_MS
    ok = ok and statistics.median(reads) * 1000 < READ_TARGET_MS
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
