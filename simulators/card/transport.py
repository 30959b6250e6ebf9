"""An in-process APDU transport to a virtual card, for unit tests of card profiles."""

from __future__ import annotations

from hardware.card.apdu import ResponseApdu
from hardware.errors import CardRemovedError
from simulators.vpcd import CardVanished, VirtualCard


class DirectTransport:
    """An in-process `ApduTransport` to a virtual card, for unit tests of card profiles.

    The kiosk never uses this: it reaches cards through pcscd. A vanished card raises
    CardRemovedError here, as the PC/SC driver does.
    """

    def __init__(self, card: VirtualCard) -> None:
        self.card = card
        self.sent: list[bytes] = []
        self._gone = False

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        """Hand the APDU to the card."""
        if self._gone:
            raise CardRemovedError("the card left the reader")
        self.sent.append(bytes(apdu))
        try:
            raw = self.card.process(bytes(apdu))
        except CardVanished:
            self._gone = True
            raise CardRemovedError("the card left the reader") from None
        response = ResponseApdu.parse(raw)
        return response.data, response.sw
