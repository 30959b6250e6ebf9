"""Quota/usage/policy/revocation stores and the replay table: SQLite (default), Redis (replicas)."""

from __future__ import annotations

from gateway.config import StoreConfig
from gateway.store.base import ReplayTable, Store, UsageKey, UsageRow


def make_store(cfg: StoreConfig) -> Store:
    """The store the config names (not yet opened)."""
    from gateway.store.sqlite import SqliteStore

    assert cfg.path is not None
    if cfg.kind == "redis":
        from gateway.store.redis import RedisStore

        assert cfg.url is not None
        return RedisStore(cfg.url, SqliteStore(cfg.path))  # the file keeps revocations
    return SqliteStore(cfg.path)


__all__ = ["ReplayTable", "Store", "UsageKey", "UsageRow", "make_store"]
