"""The fleet service's store: `open_store` picks the backend the configuration names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fleet.store.base import FleetStore, StoreError


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """[store] of fleet.toml: a SQLite file (default), or a PostgreSQL connection string."""

    path: Path
    dsn: str | None = None  # postgresql://... (a password belongs in ~/.pgpass, not here)

    @property
    def backend(self) -> str:
        """ "postgresql" when a DSN is configured, else "sqlite"."""
        return "sqlite" if self.dsn is None else "postgresql"


def open_store(config: StoreConfig) -> FleetStore:
    """Open (and create or migrate) the configured store; StoreError naming what failed."""
    if config.dsn is not None:
        from fleet.store.postgres import PostgresStore

        return PostgresStore(config.dsn)
    from fleet.store.sqlite import SqliteStore

    return SqliteStore(config.path)


__all__ = ["FleetStore", "StoreConfig", "StoreError", "open_store"]
