"""Fixtures: a real SQLite store filled with the synthetic fleet, and the dashboard over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from fleet.dashboard import dashboard_app
from fleet.store.base import FleetStore
from fleet.store.sqlite import SqliteStore
from tests.clock import FakeClock
from tests.fleet.dashboard import synthetic


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FleetStore]:
    """A store with the synthetic fleet."""
    s = SqliteStore(tmp_path / "fleet.sqlite3")
    synthetic.fill(s)
    yield s
    s.close()


@pytest.fixture
def app(store: FleetStore) -> web.Application:
    """The dashboard over the synthetic fleet, at the synthetic fleet's time."""
    return dashboard_app(store, clock=FakeClock(wall=float(synthetic.NOW)))
