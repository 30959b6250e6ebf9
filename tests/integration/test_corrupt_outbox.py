"""A corrupt usage outbox stops the agent (its own process) with a message that names the file
and says what to do; once moved aside, the agent starts with a new outbox (a new epoch)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kiosk_sim.stack import Stack, StackError, Timeouts

TIMEOUTS = Timeouts(card_read=5.0, finger_wait=3.0, query=5.0, result_display=0.3)


async def test_a_corrupt_outbox_stops_the_agent_with_a_clear_message(tmp_path: Path) -> None:
    async with Stack(tmp_path / "run", timeouts=TIMEOUTS) as stack:
        outbox = stack.run_dir / "agent" / "state" / "usage.sqlite3"
        with sqlite3.connect(outbox) as db:
            (epoch,) = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        db.close()
        await stack.stop_agent()
        for extra in ("-wal", "-shm"):
            Path(f"{outbox}{extra}").unlink(missing_ok=True)
        outbox.write_bytes(b"synthetic garbage where the outbox was\n" * 64)
        log = stack.run_dir / "agent" / "agent.log"
        start = log.stat().st_size
        with pytest.raises(StackError, match="exited with 1 before it was ready"):
            await stack.start_agent()
        said = log.read_bytes()[start:].decode()
        assert f"the usage outbox {outbox} cannot be read" in said, said
        assert "move it aside" in said and "start the agent again" in said, said
        assert "Traceback" not in said, said

        outbox.rename(outbox.with_suffix(".corrupt"))  # what the message says to do
        await stack.start_agent()
        with sqlite3.connect(outbox) as db:
            (new_epoch,) = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        db.close()
        assert new_epoch > epoch  # a new outbox, a new epoch: no count after it is ignored
