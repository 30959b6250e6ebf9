"""Where the simulated kiosks' keys live: one SoftHSM token ("devices") per process.

`Pki.issue_device` makes each kiosk's key in this token (label: the device id and a random
suffix) and writes, where a PEM key used to be, the "PKCS#11 PROVIDER URI" PEM naming it: every
caller presents a token key through the same `load_cert_chain(cert, key_file)` call, and no
kiosk's private key is ever a file. A process presenting such a key needs OpenSSL's
pkcs11-provider: `new_key` loads it into this process; a child process (an agent, mosquitto_pub,
openssl s_client) gets it from `env()` (SOFTHSM2_CONF and OPENSSL_CONF), which any OpenSSL 3
program reads at start.

SoftHSM reads its token directory once per process and the provider lists the slots once when
it loads: the devices token must exist before the process first uses SoftHSM. The tests make it
with their token pool (tests/softhsm.py, registered through `use_device_token_factory`); any
other process (a bench) gets one made on first use in a temporary folder, which works only if
that process has not touched SoftHSM before.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from common.tls import load_token_provider, write_token_provider_config
from common.token import Token, TokenConfig, TokenKey, write_uri_pem
from kiosk_sim.softhsm import SoftHsm

_log = logging.getLogger(__name__)

DEVICES_LABEL = "devices"


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """The token of the simulated kiosks' keys and the OpenSSL configuration that reads them."""

    token: TokenConfig
    softhsm_conf: Path  # SOFTHSM2_CONF
    openssl_conf: Path  # pkcs11-provider for token.module (OPENSSL_CONF)

    def env(self) -> dict[str, str]:
        """The environment a child process presenting a kiosk's key needs."""
        return {"SOFTHSM2_CONF": str(self.softhsm_conf), "OPENSSL_CONF": str(self.openssl_conf)}

    def load_provider(self) -> None:
        """pkcs11-provider in this process (idempotent)."""
        load_token_provider(self.openssl_conf)

    def new_key(self, name: str, uri_file: Path) -> ec.EllipticCurvePublicKey:
        """A new key `name-<random>` in the token, its URI PEM written to `uri_file`."""
        key = self.generate(name)
        write_uri_pem(uri_file, key.uri)
        return key.public_key()

    def generate(self, name: str) -> TokenKey:
        """A new key `name-<random>` in the token, to sign with here (a CSR) and for TLS."""
        self.load_provider()
        return _opened(self.token).generate_key(f"{name}-{secrets.token_hex(4)}")


def make_device_token(hsm: SoftHsm, pin: str | None = None) -> DeviceToken:
    """The "devices" token in `hsm` and its provider configuration beside it."""
    token = hsm.init_token(DEVICES_LABEL, pin)
    conf = write_token_provider_config(
        hsm.folder / "openssl-devices.cnf", hsm.module, token.pin_file
    )
    return DeviceToken(token, hsm.conf, conf)


_lock = threading.Lock()
_current: DeviceToken | None = None
_factory: Callable[[], DeviceToken] | None = None
_sessions: dict[TokenConfig, Token] = {}  # one open session per token for the process's life


def _opened(config: TokenConfig) -> Token:
    with _lock:
        token = _sessions.get(config)
        if token is None:
            token = _sessions[config] = Token.open(config)
        return token


def use_device_token_factory(factory: Callable[[], DeviceToken] | None) -> None:
    """Where this process's devices token comes from (made at its first use); None: a default."""
    global _current, _factory
    with _lock:
        _factory, _current = factory, None


def adopt_softhsm(hsm: SoftHsm, pin: str) -> None:
    """Unless tests registered a factory, make the devices token in `hsm` now: it is the
    process's SoftHSM (kiosk-sim's stack), and a token made after its first read is invisible."""
    global _current
    with _lock:
        if _factory is None and _current is None:
            _current = make_device_token(hsm, pin)


def device_token() -> DeviceToken:
    """This process's devices token, made on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = _factory() if _factory is not None else _temporary()
        return _current


def device_env() -> dict[str, str]:
    """`env()` of this process's devices token (made on first use)."""
    return device_token().env()


def _temporary() -> DeviceToken:
    """A SoftHSM of its own in a temporary folder, removed at exit; SOFTHSM2_CONF set here."""
    folder = Path(tempfile.mkdtemp(prefix="kiosk-sim-devices-"))
    atexit.register(shutil.rmtree, folder, True)
    hsm = SoftHsm(folder)
    made = make_device_token(hsm)
    os.environ.update(hsm.env())
    _log.info("simulated kiosks' keys in SoftHSM token %r under %s", DEVICES_LABEL, folder)
    return made
