"""SoftHSM2 tokens for tests: one token directory per session, a fresh token per test.

SoftHSM reads its token directory once, when the module is first initialised in a process, and
OpenSSL's pkcs11-provider lists the slots once when it loads: a token made later is invisible to
both. So the session's `softhsm` makes a pool of tokens up front (SOFTHSM2_CONF set for the whole
session), and `softhsm_token` hands each test an unused one (its `TokenConfig`: module, label,
PIN file). `opened_token` is that token opened. `token_provider` loads OpenSSL's pkcs11-provider
into the test process (once; request it after the pool exists), and `token_identity` makes a
kiosk's key in a token and its certificate, for TLS.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography import x509

from common import token as token_mod
from common.tls import load_token_provider, write_token_provider_config
from common.token import Token, TokenConfig, write_uri_pem
from kiosk_sim.pki import Issued, Pki
from kiosk_sim.softhsm import SoftHsm, SoftHsmError

POOL_SIZE = 48


class TokenPool:
    """Tokens made before any use in this process, handed out once each."""

    def __init__(self, hsm: SoftHsm, size: int) -> None:
        self.hsm = hsm
        # one PIN for all: OpenSSL's provider may log in to any of them (common.tls)
        self.pin = secrets.token_hex(8)
        self._free = [hsm.init_token(f"pool-{n:02d}", self.pin) for n in range(size)]

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


@pytest.fixture(scope="session")
def token_provider(softhsm: TokenPool, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OpenSSL's pkcs11-provider loaded into this process for SoftHSM (after the pool exists)."""
    conf = tmp_path_factory.mktemp("openssl") / "openssl-pkcs11.cnf"
    pin_file = softhsm.hsm.folder / "pool.pin"
    pin_file.write_text(softhsm.pin)
    write_token_provider_config(conf, softhsm.hsm.module, pin_file)
    load_token_provider(conf)
    return conf


def token_identity(
    pki: Pki, config: TokenConfig, device: str, institution: str, folder: Path, **dates: Any
) -> Issued:
    """A key made in the token, its device certificate and URI PEM: an `Issued` for TLS."""
    with Token.open(config) as token:
        label = f"{device}-{secrets.token_hex(4)}"
        key = token.generate_key(label)
        cert = pki.certify_device(device, institution, key.public_key(), **dates)
        uri_file = folder / f"{label}.key"
        write_uri_pem(uri_file, key.uri)
    return Issued(
        device, cert, uri_file, x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
    )
