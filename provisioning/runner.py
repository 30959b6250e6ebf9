"""The steps runner: each step once, in order, its result recorded before the next one starts.

A step is an async function of the session returning its result (a JSON object of
non-personal facts) or raising a ProvisionError. A step recorded in the state file as finished
is not run again (resume after a failure or a power cut); a step that fails leaves nothing
recorded, so running the command again runs it again, which every step allows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from provisioning.errors import EXIT_INTERNAL, EXIT_OK, ProvisionError
from provisioning.output import Reporter
from provisioning.state import RunState

_log = logging.getLogger(__name__)
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Step(Generic[S]):
    """One step: its name (in the state file and --json), its titles, its function."""

    name: str
    title_id: str
    title_en: str
    run: Callable[[S], Awaitable[dict[str, Any]]]


async def run_steps(
    session: S,
    steps: Sequence[Step[S]],
    state: RunState,
    out: Reporter,
    *,
    wall: Callable[[], float] = time.time,
) -> int:
    """Run the steps not yet finished; the exit code (0, or the failed step's)."""
    total = len(steps)
    for index, step in enumerate(steps, 1):
        if state.done(step.name):
            out.step(index, total, step.name, step.title_id, step.title_en)
            out.done(step.name, state.result(step.name), again=True)
            continue
        out.step(index, total, step.name, step.title_id, step.title_en)
        try:
            result = await step.run(session)
        except ProvisionError as err:
            _log.warning("step %s failed: %s", step.name, err.code)
            out.failed(step.name, err)
            return err.exit_code
        except Exception as err:  # a bug: the traceback goes to the log, a line to the person
            _log.exception("step %s failed unexpectedly", step.name)
            out.failed(
                step.name,
                ProvisionError(
                    "INTERNAL",
                    f"Kesalahan tak terduga pada langkah {step.name} ({type(err).__name__}):"
                    " laporkan ke tim platform dengan log alat ini.",
                    f"Unexpected failure in step {step.name} ({type(err).__name__}): report it"
                    " to the platform team with this tool's log.",
                    exit_code=EXIT_INTERNAL,
                ),
            )
            return EXIT_INTERNAL
        state.finish(step.name, int(wall()), result)
        out.done(step.name, result, again=False)
    out.end(EXIT_OK)
    return EXIT_OK
