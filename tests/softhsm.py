"""SoftHSM2 tokens for tests: one token directory per session, a fresh token per test.

SoftHSM reads its token directory once, when the module is first initialised in a process, and
OpenSSL's pkcs11-provider lists the slots once when it loads: a token made later is invisible to
both. So the session's `softhsm` makes a pool of tokens up front (SOFTHSM2_CONF set for the whole
session), and `softhsm_token` hands each test an unused one (its `TokenConfig`: module, label,
PIN file). `opened_token` is that token opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pkcs11
import pytest

from common import token as token_mod
from common.token import Token, TokenConfig
from kiosk_sim.softhsm import SoftHsm, SoftHsmError

POOL_SIZE = 48


class TokenPool:
    """Tokens made before any use in this process, handed out once each."""

    def __init__(self, hsm: SoftHsm, size: int) -> None:
        self.hsm = hsm
        self._free = [hsm.init_token(f"pool-{n:02d}") for n in range(size)]

    def take(self) -> TokenConfig:
        """An unused token; fails the test if the pool is used up."""
        if not self._free:
            pytest.fail("the SoftHSM token pool is used up: raise tests/softhsm.py POOL_SIZE")
        return self._free.pop(0)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenPool]:
    """SoftHSM2 for the session: SOFTHSM2_CONF set, a pool of fresh tokens."""
    try:
        hsm = SoftHsm(tmp_path_factory.mktemp("softhsm"))
    except SoftHsmError as err:
        pytest.skip(str(err))
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ.update(hsm.env())
    pool = TokenPool(hsm, POOL_SIZE)
    loaded = pkcs11._loaded.get(str(hsm.module))  # already initialised with another folder
    if loaded is not None and loaded.initialized:
        loaded.reinitialize()
        token_mod._LOGINS.clear()  # sessions of the old initialisation
    yield pool
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before


@pytest.fixture
def softhsm_token(softhsm: TokenPool) -> TokenConfig:
    """A fresh SoftHSM token of its own: module, label and PIN file."""
    return softhsm.take()


@pytest.fixture
def opened_token(softhsm_token: TokenConfig) -> Iterator[Token]:
    """The test's fresh token, opened (user session, logged in)."""
    opened = Token.open(softhsm_token)
    yield opened
    opened.close()
