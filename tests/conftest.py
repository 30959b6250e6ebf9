"""Shared test configuration: hypothesis profiles.

HYPOTHESIS_PROFILE=ci (default in `make test`) keeps example counts modest; `make fuzz` uses
`long` (at least 100,000 examples per parser).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile(
    "long",
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# The fleet store on each backend, and the PostgreSQL server they and other tests use.
from tests.fleet.stores import fleet_store  # noqa: E402
from tests.postgres import postgres_dsn, postgres_server  # noqa: E402

# SoftHSM2 tokens (a pool made once per session, one fresh token per test).
from tests.softhsm import (  # noqa: E402
    device_keys_in_softhsm,
    opened_token,
    pool_softhsm_in_environment,
    softhsm,
    softhsm_token,
    token_provider,
)

__all__ = [
    "device_keys_in_softhsm",
    "fleet_store",
    "opened_token",
    "pool_softhsm_in_environment",
    "postgres_dsn",
    "postgres_server",
    "softhsm",
    "softhsm_token",
    "token_provider",
]
