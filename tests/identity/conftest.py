"""Fixtures: the fleet's EST listener (tests.fleet.ca) and a kiosk identity on a SoftHSM token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from common.token import TokenConfig
from edge_agent.config import IdentityConfig
from edge_agent.identity.device import DeviceIdentity
from tests.fleet.ca.conftest import INSTITUTION, KIOSK, SERIAL, Est, start_est

MakeConfig = Callable[..., IdentityConfig]


@pytest.fixture
async def est(tmp_path: Path) -> AsyncIterator[Est]:
    """The EST listener (token-claimed keys only), two registered kiosks and a technician."""
    running, close = await start_est(tmp_path / "fleet", key_origin="token-claimed")
    yield running
    await close()


@pytest.fixture
def identity_config(
    tmp_path: Path, est: Est, softhsm_token: TokenConfig, token_provider: Path
) -> MakeConfig:
    """identity_config(**over) → the [identity] of kiosk KIOSK on a fresh token."""

    def make(**over: Any) -> IdentityConfig:
        values: dict[str, Any] = {
            "token_module": softhsm_token.module,
            "token_label": softhsm_token.label,
            "pin_file": softhsm_token.pin_file,
            "est_url": f"{est.url}/.well-known/est",
            "institution": INSTITUTION,
            "dir": tmp_path / "identity",
            "est_ca_file": est.pki.server_ca.cert,
            "serial": SERIAL,
            "enrolment_token_file": tmp_path / "enrolment.token",
        }
        values.update(over)
        return IdentityConfig(**values)

    return make


async def enrolled(est: Est, identity_config: MakeConfig, **over: Any) -> DeviceIdentity:
    """A started identity, enrolled with a fresh technician's token."""
    config = identity_config(**over)
    assert config.enrolment_token_file is not None
    config.enrolment_token_file.write_text(await est.token() + "\n")
    identity = DeviceIdentity(config, KIOSK)
    await identity.start()
    return identity


__all__ = ["KIOSK", "SERIAL", "Est", "MakeConfig", "enrolled"]
