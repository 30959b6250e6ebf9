"""Integration fixtures: one private pcscd (real daemon, vpcd driver) for the whole session.

libpcsclite reads PCSCLITE_CSOCK_NAME once per process, so every test in this process that talks
PC/SC must use this one daemon: depend on the `pcscd` fixture rather than starting another.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kiosk_sim.pcscd import PcscdProcess


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscdProcess]:
    """A private pcscd with two vpcd readers (card slot, SAM slot) on free ports."""
    with PcscdProcess(tmp_path_factory.mktemp("pcscd")) as daemon:
        daemon.use_in_this_process()
        yield daemon
