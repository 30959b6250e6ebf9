"""TLS contexts of every process: the client context (kiosk, fleet) and the server context.

Certificates and keys come in through one call, `load_identity`. `key_file` is a PEM private key,
or, for a key kept in a PKCS#11 token, a PEM of type "PKCS#11 PROVIDER URI" naming it
(common.token.write_uri_pem): OpenSSL 3's pkcs11-provider reads it through the same
`load_cert_chain` call once `load_token_provider` has loaded the provider into the process from an
OpenSSL configuration the project writes (`write_token_provider_config`). The key never leaves the
token: every handshake signature is made there.

`ResumingContext` is a client context that offers the last session it saw on every new
connection: asyncio opens TLS connections with `SSLContext.wrap_bio` and has no way to offer a
saved session, so a reconnection would otherwise cost a full handshake (certificates and
signatures) instead of a resumption.
"""

from __future__ import annotations

import ctypes
import os
import ssl
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Self, TypeVar

from common.errors import TlsFileError, TlsProviderError

_Ctx = TypeVar("_Ctx", bound=ssl.SSLContext)

# Where TLS 1.2 is allowed: forward secrecy and an AEAD only.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"

PROVIDER = "pkcs11"  # OpenSSL's name of the provider (Debian package pkcs11-provider)
URI_PEM_HEAD = b"-----BEGIN PKCS#11 PROVIDER URI-----"
_PROVIDER_LOCK = threading.Lock()


def token_provider_config(token_module: Path, pin_file: Path | None = None) -> str:
    """An OpenSSL configuration loading the default provider and pkcs11-provider for `token_module`.

    `no-deinit`: SoftHSM (and other modules) crash at process exit if the provider finalises
    them. `cache-keys = false`: by default the provider copies a token key into one of its
    sessions as a session object and signs with the copy, which dies with that session (the
    next handshake then fails CKR_OBJECT_HANDLE_INVALID, "EVP lib"); the token's own object
    stays valid. `?provider=default`: operations prefer the default provider. Each key's URI names
    its PIN file (pin-source); `pin_file` (the file's path, never the PIN) also lets the
    provider log in where OpenSSL hands it a public key of its own accord (a peer's, to verify
    its signature), which it keeps as a session object on the module's first token. Without a
    PIN it asks on the terminal for that token's, and verifying fails: a process that loads the
    provider and verifies peers (a TLS client too) gives the PIN file of its token.
    """
    return (
        "# OpenSSL 3 with pkcs11-provider: TLS keys in a PKCS#11 token (written by the kiosk)\n"
        "openssl_conf = openssl_init\n\n"
        "[openssl_init]\nproviders = provider_sect\nalg_section = algorithm_sect\n\n"
        "[algorithm_sect]\ndefault_properties = ?provider=default\n\n"
        f"[provider_sect]\ndefault = default_sect\n{PROVIDER} = pkcs11_sect\n\n"
        "[default_sect]\nactivate = 1\n\n"
        "[pkcs11_sect]\n"
        f"pkcs11-module-path = {token_module}\n"
        + ("" if pin_file is None else f"pkcs11-module-token-pin = file:{pin_file}\n")
        + "pkcs11-module-quirks = no-deinit\n"
        "pkcs11-module-cache-keys = false\n"
        "activate = 1\n"
    )


def write_token_provider_config(
    path: Path, token_module: Path, pin_file: Path | None = None
) -> Path:
    """Write `token_provider_config` to `path` (atomically); return `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(token_provider_config(token_module, pin_file), encoding="utf-8")
    tmp.replace(path)
    return path


def load_token_provider(config: Path) -> None:
    """Make pkcs11-provider active in this process from the OpenSSL configuration `config`.

    A process started with OPENSSL_CONF=`config` has it from its first `import ssl`; any other
    loads it here into OpenSSL's default library context (the one Python's ssl module uses).
    Idempotent; TlsProviderError naming the file and the package when it cannot be loaded.
    """
    with _PROVIDER_LOCK:
        crypto = _libcrypto(config)
        if crypto.OSSL_PROVIDER_available(None, PROVIDER.encode()) == 1:
            return
        if not config.is_file():
            raise TlsProviderError(config, "the OpenSSL configuration file is missing")
        loaded = crypto.OSSL_LIB_CTX_load_config(None, os.fsencode(config))
        if loaded != 1 or crypto.OSSL_PROVIDER_available(None, PROVIDER.encode()) != 1:
            raise TlsProviderError(
                config,
                "OpenSSL did not load pkcs11-provider from it: install the Debian package "
                "pkcs11-provider (scripts/install-debian-packages.sh)",
            )


def token_provider_loaded() -> bool:
    """Whether pkcs11-provider is active in this process."""
    crypto = _libcrypto(Path(os.environ.get("OPENSSL_CONF", "openssl.cnf")))
    return bool(crypto.OSSL_PROVIDER_available(None, PROVIDER.encode()) == 1)


def _libcrypto(config: Path) -> ctypes.CDLL:
    """The libcrypto that Python's ssl module uses (the same OpenSSL 3 shared library)."""
    try:
        crypto = ctypes.CDLL("libcrypto.so.3")
        crypto.OpenSSL_version_num.restype = ctypes.c_ulong
        crypto.OSSL_PROVIDER_available.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        crypto.OSSL_LIB_CTX_load_config.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    except (OSError, AttributeError) as err:
        raise TlsProviderError(config, f"OpenSSL 3's libcrypto is not usable: {err}") from err
    if crypto.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
        raise TlsProviderError(
            config,
            f"Python's ssl module uses another OpenSSL ({ssl.OPENSSL_VERSION}) than "
            "libcrypto.so.3: run the agent with the system's python3",
        )
    return crypto


def load_identity(ctx: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    """Load a certificate (chain) and its private key into `ctx`; TlsFileError if they fail."""
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as err:
        reason = _reason(err)
        if _is_uri_pem(key_file):
            reason = (
                f"the token key named in {key_file.name} did not load ({reason}): is "
                "pkcs11-provider loaded, the key on the token, its PIN file readable?"
            )
        raise TlsFileError("identity", cert_file, reason) from err


def load_trust(ctx: ssl.SSLContext, ca_file: Path) -> None:
    """Trust the CA certificates of a PEM file; TlsFileError if it does not load."""
    try:
        ctx.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as err:
        raise TlsFileError("ca", ca_file, _reason(err)) from err


def client_context(
    ca_file: Path,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A client context trusting only `ca_file`, checking the host name, showing a certificate.

    `cert_file` and `key_file` (both or neither) are the client's own certificate and key.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return configure_client(ctx, ca_file, cert_file, key_file, min_version=min_version)


def configure_client(
    ctx: _Ctx,
    ca_file: Path,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> _Ctx:
    """Make a new client-side `ctx` (e.g. a ResumingContext) what `client_context` returns."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("give both cert_file and key_file, or neither")
    ctx.minimum_version = min_version
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.options |= ssl.OP_NO_COMPRESSION
    load_trust(ctx, ca_file)
    if cert_file is not None and key_file is not None:
        load_identity(ctx, cert_file, key_file)
    return ctx


def server_context(
    cert_file: Path,
    key_file: Path,
    client_cas: Iterable[Path],
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A server context requiring a client certificate issued by one of `client_cas`.

    It sends its own certificate (no root), issues one stateful session ticket per handshake
    (a short id, the session stays in the server's cache: few bytes on the wire) and, where
    TLS 1.2 is allowed, only forward-secret AEAD suites.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = min_version
    ctx.verify_mode = ssl.CERT_REQUIRED
    load_identity(ctx, cert_file, key_file)
    for ca_file in client_cas:
        load_trust(ctx, ca_file)
    ctx.options |= ssl.OP_NO_TICKET
    ctx.num_tickets = 1
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    if min_version <= ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers(TLS12_CIPHERS)
    return ctx


def _is_uri_pem(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(URI_PEM_HEAD)) == URI_PEM_HEAD
    except OSError:
        return False


def _reason(err: OSError | ssl.SSLError) -> str:
    if isinstance(err, ssl.SSLError):
        return err.reason or str(err)
    return err.strerror or type(err).__name__


class ResumingContext(ssl.SSLContext):
    """A client SSLContext that offers the last session it saw on every new connection."""

    _saved: ssl.SSLSession | None
    _recent: deque[ssl.SSLObject]
    _last_counted: ssl.SSLObject | None
    handshakes: int
    resumptions: int

    def __new__(cls, protocol: int = ssl.PROTOCOL_TLS_CLIENT) -> Self:
        """A client context (ssl.SSLContext is made by __new__)."""
        return super().__new__(cls, protocol)

    def __init__(self, protocol: int = ssl.PROTOCOL_TLS_CLIENT) -> None:
        self._saved = None
        self._recent = deque(maxlen=4)
        self._last_counted = None
        self.handshakes = 0
        self.resumptions = 0

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """Wrap a new connection, offering the saved session unless one is given."""
        if session is None and not server_side:
            session = self._saved
        self.handshakes += 1
        obj = super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)
        self._recent.append(obj)
        return obj

    def remember(self) -> None:
        """After an answer: save the newest connection's session once, count a resumption.

        The session is read once per new connection, after its first answer (when a TLS 1.3
        ticket has arrived): each read of `SSLObject.session` costs about 6 KiB that CPython 3.11
        with OpenSSL 3.0 never gives back, so reading it after every answer grows the process.
        """
        if not self._recent:
            return
        newest = self._recent[-1]
        if newest is self._last_counted:
            return
        self._last_counted = newest
        if newest.session_reused:
            self.resumptions += 1
        session = newest.session
        if session is not None and (session.has_ticket or session.id):
            self._saved = session

    def forget(self) -> None:
        """Drop the saved session (after a TLS failure)."""
        self._saved = None
