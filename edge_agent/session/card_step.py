"""Reading the card in a session: the reader's errors turned into how the session ends."""

from __future__ import annotations

import concurrent.futures
import logging

from edge_agent.session.steps import (
    Aborted,
    DeviceFault,
    EarlyOutcome,
    Reason,
    StepWaiter,
    on_device_thread,
)
from hardware.card.reader import CardContents, CardReader
from hardware.errors import (
    CardError,
    CardNotAuthenticError,
    CardRemovedError,
    NoCardError,
    NoReaderError,
    SamMissingError,
    SamNotAuthorisedError,
)
from protocol.outcomes import Outcome

_log = logging.getLogger(__name__)


async def read_card(
    waiter: StepWaiter,
    executor: concurrent.futures.ThreadPoolExecutor,
    card: CardReader,
    timeout: float,
) -> CardContents:
    """The card's contents, read on the reader's thread (Aborted, EarlyOutcome, DeviceFault)."""
    work, abandon = on_device_thread(executor, card.read, discard=CardContents.wipe)
    try:
        return await waiter.step(work, timeout, abandon)
    except (CardRemovedError, NoCardError) as err:
        _log.info("card gone while reading: %s", type(err).__name__)
        raise Aborted(Reason.PULLED) from None
    except CardNotAuthenticError:
        _log.warning("card failed mutual authentication with the SAM")
        raise EarlyOutcome(Outcome.CARD_NOT_AUTHENTIC) from None
    except (SamMissingError, SamNotAuthorisedError, NoReaderError) as err:
        raise DeviceFault(f"card reader or SAM: {type(err).__name__}: {err}") from None
    except CardError as err:
        _log.warning("card unreadable: %s", type(err).__name__)
        raise EarlyOutcome(Outcome.CARD_UNREADABLE) from None
