"""Quota/usage/policy stores: the interface, SQLite (default) and Redis (replicas)."""

from __future__ import annotations

from gateway.config import StoreConfig
from gateway.store.base import Store, UsageKey, UsageRow


def make_store(cfg: StoreConfig) -> Store:
    """The store the config names (not yet opened)."""
    if cfg.kind == "redis":
        from gateway.store.redis import RedisStore

        assert cfg.url is not None
        return RedisStore(cfg.url)
    from gateway.store.sqlite import SqliteStore

    assert cfg.path is not None
    return SqliteStore(cfg.path)


__all__ = ["Store", "UsageKey", "UsageRow", "make_store"]
