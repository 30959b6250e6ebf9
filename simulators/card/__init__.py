"""A virtual KTP-el card and a virtual SAM, speaking the profile of docs/ktpel-card-protocol.md.

Both are `simulators.vpcd.VirtualCard`s: put them into a `VirtualSlot` and the real pcscd serves
them to the real driver. The card (`ktpel_card`) is personalised from a synthetic persona
(`personalisation`); a `CardFault` (`faults`) makes it misbehave the way damaged, forged or pulled
cards do. The SAM (`sam`) holds the simulated master key. `transport.DirectTransport` hands APDUs
to a virtual card in-process, for unit tests of card profiles. The names most callers need are
re-exported here.
"""

from __future__ import annotations

from simulators.card.faults import CardFault, FaultKind
from simulators.card.ktpel_card import CARD_ATR, VirtualKtpelCard, card_for
from simulators.card.personalisation import (
    build_identity_file,
    build_template_file,
    identity_values,
)
from simulators.card.sam import SAM_ATR, SIMULATED_MASTER_KEY, VirtualSam
from simulators.card.transport import DirectTransport

__all__ = [
    "CARD_ATR",
    "SAM_ATR",
    "SIMULATED_MASTER_KEY",
    "CardFault",
    "DirectTransport",
    "FaultKind",
    "VirtualKtpelCard",
    "VirtualSam",
    "build_identity_file",
    "build_template_file",
    "card_for",
    "identity_values",
]
