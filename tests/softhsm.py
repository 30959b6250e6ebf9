"""SoftHSM2 tokens for tests: one token directory per session, a fresh token per test.

SoftHSM reads its token directory once, when the module is first initialised in a process, and
OpenSSL's pkcs11-provider lists the slots once when it loads: a token made later is invisible to
both. So the session's `softhsm` makes a pool of tokens up front (SOFTHSM2_CONF set for the whole
session), and `softhsm_token` hands each test an unused one (its `TokenConfig`: module, label,
PIN file). `opened_token` is that token opened. `token_provider` loads OpenSSL's pkcs11-provider
into the test process (once; request it after the pool exists), and `token_identity` makes a
kiosk's key in a token and its certificate, for TLS.

The pool also holds the "devices" token where every test PKI's kiosk keys live
(kiosk_sim.device_token, through `Pki.issue_device`): the autouse `device_keys_in_softhsm`
makes the pool on the first such key, so that a test's `make_pki` needs no fixture of its own.
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

from common.token import Token, TokenConfig, write_uri_pem
from common.token_session import forget_logins
from kiosk_sim.device_token import DeviceToken, make_device_token, use_device_token_factory
from kiosk_sim.pki import Issued, Pki
from kiosk_sim.softhsm import SoftHsm, SoftHsmError
from tests.identity.key_files import kiosk_certificates, kiosk_key_files

POOL_SIZE = 96


class TokenPool:
    """Tokens made before any use in this process, handed out once each."""

    def __init__(self, hsm: SoftHsm, size: int) -> None:
        self.hsm = hsm
        # one PIN for all: OpenSSL's provider may log in to any of them (common.tls)
        self.pin = secrets.token_hex(8)
        self._free = [hsm.init_token(f"pool-{n:02d}", self.pin) for n in range(size)]
        # the kiosk keys of every test PKI (Pki.issue_device); its provider config serves all
        self.devices: DeviceToken = make_device_token(hsm, self.pin)

    def take(self) -> TokenConfig:
        """An unused token; fails the test if the pool is used up."""
        if not self._free:
            pytest.fail("the SoftHSM token pool is used up: raise tests/softhsm.py POOL_SIZE")
        return self._free.pop(0)


_POOL: TokenPool | None = None
_ENV_BEFORE: str | None = None


def session_pool(tmp_path_factory: pytest.TempPathFactory) -> TokenPool:
    """The session's pool, made at the first call: SOFTHSM2_CONF set (SoftHsmError if none)."""
    global _POOL, _ENV_BEFORE
    if _POOL is None:
        hsm = SoftHsm(tmp_path_factory.mktemp("softhsm"))
        _ENV_BEFORE = os.environ.get("SOFTHSM2_CONF")
        os.environ.update(hsm.env())
        _POOL = TokenPool(hsm, POOL_SIZE)
        loaded = pkcs11._loaded.get(str(hsm.module))  # already initialised with another folder
        if loaded is not None and loaded.initialized:
            loaded.reinitialize()
            forget_logins()  # sessions of the old initialisation
    return _POOL


@pytest.fixture(scope="session", autouse=True)
def device_keys_in_softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Kiosk keys of every test PKI in the pool's devices token (the pool made on first use);
    at the session's end, no test's tmp dir may hold a kiosk's private key in a file."""
    use_device_token_factory(lambda: session_pool(tmp_path_factory).devices)
    yield
    use_device_token_factory(None)
    base = tmp_path_factory.getbasetemp()
    leaked = kiosk_key_files([base], kiosk_certificates([base]))
    assert not leaked, f"kiosk private keys in files (they belong in a token): {leaked}"
    if _POOL is not None:
        if _ENV_BEFORE is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = _ENV_BEFORE


@pytest.fixture(autouse=True)
def pool_softhsm_in_environment() -> None:
    """Each test starts with SOFTHSM2_CONF naming the pool's SoftHSM (once the pool exists): a
    simulated stack sets its own for its agent, and a child process of a later test must not
    inherit it (the stack hands its agent its own explicitly)."""
    if _POOL is not None:
        os.environ.update(_POOL.hsm.env())


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> TokenPool:
    """SoftHSM2 for the session: SOFTHSM2_CONF set, a pool of fresh tokens."""
    try:
        return session_pool(tmp_path_factory)
    except SoftHsmError as err:
        pytest.skip(str(err))


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
def token_provider(softhsm: TokenPool) -> Path:
    """OpenSSL's pkcs11-provider loaded into this process for SoftHSM (after the pool exists)."""
    softhsm.devices.load_provider()
    return softhsm.devices.openssl_conf


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
