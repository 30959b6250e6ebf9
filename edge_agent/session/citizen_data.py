"""The personal data of one verification session, held in bytearrays and wiped at its end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.buffers import wipe, wipe_all
from hardware.card.reader import CardContents
from protocol.elements import DataElement

if TYPE_CHECKING:
    from edge_agent.session.balikan import BalikanResult


class CitizenData:
    """The card's contents and the returned data elements of one session; `wipe()` ends them."""

    def __init__(self) -> None:
        self.card: CardContents | None = None
        self.elements: dict[DataElement, bytearray] = {}
        self.replay_key = bytearray()  # fresh per request id; the gateway seals its answer with it
        self.balikan: BalikanResult | None = None  # the institution's number (data balikan)

    def wipe(self) -> None:
        """Overwrite and drop all of it."""
        if self.card is not None:
            self.card.wipe()
            self.card = None
        wipe_all(self.elements)
        wipe(self.replay_key)
        if self.balikan is not None:
            self.balikan.wipe()
            self.balikan = None
