"""Opening a PKCS#11 token: where it is (`TokenConfig`), its PIN file, the module loaded once per
process, the process's one login, and PKCS#11 errors translated into `common.errors.TokenError`s.

common.token builds the token's keys on this. A module is initialised here with
CKF_OS_LOCKING_OK, so that it guards its state with mutexes: OpenSSL's pkcs11-provider, in the
same process, uses it from any thread (a TLS handshake in an executor or in paho's network
thread), and a module initialised without locking (python-pkcs11 passes no arguments) races.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pkcs11
from pkcs11 import _pkcs11
from pkcs11 import exceptions as p11

from common.errors import (
    TokenError,
    TokenFullError,
    TokenLockedError,
    TokenMissingError,
    TokenPinError,
    TokenPinFileError,
)

__all__ = [
    "TokenConfig",
    "forget_logins",
    "load_module",
    "log_in",
    "raise_token_error",
    "read_pin",
]

_log = logging.getLogger(__name__)

# The process's logins, by (module, token label): see log_in.
_LOGINS: dict[tuple[str, str], pkcs11.Session] = {}
_LOGINS_LOCK = threading.Lock()

CKF_OS_LOCKING_OK = 0x00000002
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x00000191


@dataclass(frozen=True, slots=True)
class TokenConfig:
    """Where a token is: its PKCS#11 module (shared library), its label, its user PIN's file."""

    module: Path
    label: str
    pin_file: Path

    def fail(self, kind: type[TokenError], reason: str) -> TokenError:
        """A `kind` error about this token."""
        return kind(self.module, self.label, reason)


def read_pin(config: TokenConfig) -> str:
    """The user PIN from the config's PIN file (trailing newline dropped); TokenPinFileError."""
    try:
        pin = config.pin_file.read_text(encoding="utf-8").strip("\r\n")
    except FileNotFoundError as err:
        raise config.fail(TokenPinFileError, f"the PIN file {config.pin_file} is missing") from err
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise config.fail(
            TokenPinFileError,
            f"the PIN file {config.pin_file} cannot be read ({reason}); "
            "it must be readable by the agent's user",
        ) from err
    if not pin:
        raise config.fail(TokenPinFileError, f"the PIN file {config.pin_file} is empty")
    return pin


class _SharedModule(_pkcs11.lib):
    """A PKCS#11 module that OpenSSL's provider, in the same process, may have initialised first.

    C_Initialize then answers CKR_CRYPTOKI_ALREADY_INITIALIZED: the module is ready all the
    same. Such a module is never finalised from here (that would pull it from under the
    provider); nor is it otherwise, as the provider runs with `no-deinit`.
    """

    def initialize(self) -> None:
        try:
            super().initialize()
        except p11.PKCS11Error as err:
            if "already initialized" not in str(err):
                raise


def load_module(path: Path) -> Any:
    """The process's one instance of a PKCS#11 module (shared with python-pkcs11's own cache)."""
    so = str(path)
    with _LOGINS_LOCK:
        lib = pkcs11._loaded.get(so)
        if lib is None:
            _initialize_with_locking(path)
            lib = _SharedModule(so)
            pkcs11._loaded[so] = lib
        elif not lib.initialized:
            _initialize_with_locking(path)
            lib.initialize()
        return lib


def log_in(config: TokenConfig, token: pkcs11.Token, pin: str) -> None:
    """Log the process in to the token once, keeping that session open for the process's life.

    A PKCS#11 login belongs to the process, shared by all its sessions (OpenSSL's provider's
    too), and closing the last session of a token logs them all out (SoftHSM then forgets the
    handles of private keys, and the provider's next signature fails CKR_OBJECT_HANDLE_INVALID):
    so each Token works in a session of its own and one session stays open for the process's
    life. If another user of the module in this process (the provider) logged in first, that
    login serves, and the session kept open holds it.
    """
    where = (str(config.module), config.label)
    with _LOGINS_LOCK:
        if where in _LOGINS:
            return
        try:
            _LOGINS[where] = token.open(user_pin=pin, rw=True)
        except p11.UserAlreadyLoggedIn:
            _LOGINS[where] = token.open(rw=True)


def forget_logins() -> None:
    """Forget the process's logins (after the module was initialised anew: tests)."""
    with _LOGINS_LOCK:
        _LOGINS.clear()


class _InitArgs(ctypes.Structure):
    """CK_C_INITIALIZE_ARGS: no mutex callbacks of our own, the OS's locking."""

    _fields_ = [
        ("create_mutex", ctypes.c_void_p),
        ("destroy_mutex", ctypes.c_void_p),
        ("lock_mutex", ctypes.c_void_p),
        ("unlock_mutex", ctypes.c_void_p),
        ("flags", ctypes.c_ulong),
        ("reserved", ctypes.c_void_p),
    ]


def _initialize_with_locking(path: Path) -> None:
    """C_Initialize the module with CKF_OS_LOCKING_OK (python-pkcs11's own call then finds it
    initialised); a module without an exported C_Initialize is left to python-pkcs11."""
    try:
        initialize = ctypes.CDLL(str(path)).C_Initialize
    except (OSError, AttributeError):
        return
    initialize.argtypes = [ctypes.c_void_p]
    initialize.restype = ctypes.c_ulong
    args = _InitArgs(None, None, None, None, CKF_OS_LOCKING_OK, None)
    rv = initialize(ctypes.byref(args))
    if rv not in (0, CKR_CRYPTOKI_ALREADY_INITIALIZED):
        _log.warning("C_Initialize with OS locking answered 0x%x for %s", rv, path)


def raise_token_error(config: TokenConfig, err: p11.PKCS11Error, doing: str) -> NoReturn:
    """Raise the TokenError subclass for a PKCS#11 error met while `doing` something."""
    if isinstance(err, p11.PinLocked):
        kind: type[TokenError] = TokenLockedError
        reason = "the user PIN is locked; the token's security officer must unlock it"
    elif isinstance(err, p11.PinIncorrect | p11.PinInvalid | p11.PinLenRange):
        kind = TokenPinError
        reason = f"the token refused the PIN in {config.pin_file}; check that file"
    elif isinstance(err, p11.DeviceMemory | p11.HostMemory):
        kind = TokenFullError
        reason = "the token is full; remove unused objects or use a larger token"
    elif isinstance(err, p11.TokenNotPresent | p11.DeviceRemoved | p11.TokenNotRecognised):
        kind = TokenMissingError
        reason = "the token is no longer present"
    else:
        kind = TokenError
        reason = f"{type(err).__name__} {err}".strip()
    raise config.fail(kind, f"{reason} (while {doing})") from err
