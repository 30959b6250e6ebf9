"""The reader and SAM ids the kiosk sends the gateway, read from the hardware at start.

agent.toml's `[reader] reader_id`/`sam_id` are what was typed by hand; the ids the gateway pins
(through the fleet service, when a technician registers the kiosk's hardware) are those read
from the devices (protocol.inventory.reader_id_of and the SAM's serial). So the agent reads them
too: a reader or SAM swapped since then names other hardware and the gateway refuses the kiosk.
When the hardware cannot be asked (an injected fake, the SAM missing: the device check says so),
agent.toml's ids are sent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from edge_agent.config import ReaderConfig
from hardware.errors import CardError
from protocol.inventory import reader_id_of
from protocol.messages import ReaderIdentity

_log = logging.getLogger(__name__)
READ_TIMEOUT = 2.0


async def reader_identity(cfg: ReaderConfig, card: Any) -> ReaderIdentity:
    """The ids read from the PC/SC reader and its SAM, else agent.toml's."""
    configured = ReaderIdentity(cfg.reader_id, cfg.sam_id)
    card_name, sam_name = getattr(card, "card_reader", None), getattr(card, "sam_reader", None)
    if not (isinstance(card_name, str) and isinstance(sam_name, str)):
        return configured
    from hardware.card.reader_info import read_reader_info

    try:
        info = await asyncio.to_thread(read_reader_info, card_name, sam_name, timeout=READ_TIMEOUT)
    except CardError as err:
        _log.warning("cannot read the reader's and SAM's ids (%s); sending agent.toml's", err)
        return configured
    read = ReaderIdentity(reader_id_of(info.card_reader, info.serial), info.sam.serial)
    if read != configured:
        _log.warning(
            "the hardware is reader %s with SAM %s (agent.toml: %s, %s); sending the hardware's",
            read.reader_id,
            read.sam_id,
            configured.reader_id,
            configured.sam_id,
        )
    return read
