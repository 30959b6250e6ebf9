"""Fixtures: a store filled with the synthetic fleet, and the dashboard over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from fleet.dashboard import dashboard_app
from fleet.store.base import FleetStore
from tests.clock import FakeClock
from tests.fleet.dashboard import synthetic


def _open(path: Path) -> FleetStore:
    try:
        from fleet.store.sqlite import SqliteStore
    except ImportError:  # until the SQLite store is merged
        from tests.fleet.dashboard.memstore import MemStore

        return MemStore()
    return SqliteStore(path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FleetStore]:
    """A store with the synthetic fleet."""
    s = _open(tmp_path / "fleet.sqlite3")
    synthetic.fill(s)
    yield s
    s.close()


@pytest.fixture
def app(store: FleetStore) -> web.Application:
    """The dashboard over the synthetic fleet, at the synthetic fleet's time."""
    return dashboard_app(store, clock=FakeClock(wall=float(synthetic.NOW)))
