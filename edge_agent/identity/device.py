"""The kiosk's identity: its key made in a PKCS#11 token, its certificate from the fleet's EST.

`start()` loads OpenSSL's pkcs11-provider (a configuration written in [identity] dir), opens the
token and makes sure the kiosk has a certificate whose key is on the token: the certificate on
disk and the token's keys are reconciled (a renewal cut short by a crash leaves two keys: the
one the certificate names stays, the other goes), and a kiosk without one enrols with the
technician's single-use token (simpleenroll).

`renew()` (at `renew_at` of the certificate's life, by `run()`, or at once on a signed
`rotate_certificate` command): a new key in the token, a new certificate by simplereenroll
(authenticated with the current one), both files replaced, then every listener builds its TLS
context anew (gateway link, MQTT, health probe) and only then is the old key destroyed.
The files in `dir`: device.crt (the certificate), device.key (a URI PEM naming the key: never a
private key), openssl-pkcs11.cnf.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from common.clock import Clock, SystemClock
from common.errors import TlsFileError, TlsProviderError, TokenError
from common.tls import client_context, load_token_provider, write_token_provider_config
from common.token import KEY_ORIGIN_OID, Token, TokenConfig, TokenKey, write_uri_pem
from edge_agent.config import IdentityConfig
from edge_agent.errors import IdentityError
from edge_agent.identity.est import EstClient

_log = logging.getLogger(__name__)

Listener = Callable[[], Awaitable[None]]


def token_config(config: IdentityConfig) -> TokenConfig:
    """The token of an [identity] section."""
    return TokenConfig(config.token_module, config.token_label, config.pin_file)


class DeviceIdentity:
    """The kiosk's key and certificate: start(), then renew() or run() the renewal loop."""

    def __init__(
        self,
        config: IdentityConfig,
        device_id: str,
        *,
        clock: Clock | None = None,
        est: EstClient | None = None,
    ) -> None:
        self.config = config
        self.device_id = device_id
        self._clock: Clock = clock or SystemClock()
        self._est = est or EstClient(config.est_url)
        self._token: Token | None = None
        self.cert: x509.Certificate | None = None
        self.key_label: str | None = None
        self.listeners: list[Listener] = []
        self.renewals = 0
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()  # a new certificate: the renewal loop computes anew

    # --- state ----------------------------------------------------------------------------------

    @property
    def cert_file(self) -> Path:
        """The certificate [gateway] and [mqtt] present."""
        return self.config.cert_file

    @property
    def key_file(self) -> Path:
        """The URI PEM naming the key in the token."""
        return self.config.key_file

    def expired(self, now: float) -> bool:
        """True without a certificate, or once it is outside its validity."""
        cert = self.cert
        if cert is None:
            return True
        return (
            not cert.not_valid_before_utc.timestamp() <= now < cert.not_valid_after_utc.timestamp()
        )

    def renew_due(self) -> float:
        """When the certificate is to be renewed (wall time), `renew_at` into its life."""
        if self.cert is None:
            return 0.0
        start = self.cert.not_valid_before_utc.timestamp()
        end = self.cert.not_valid_after_utc.timestamp()
        return start + self.config.renew_at * (end - start)

    def client_context(self, ca_file: Path) -> ssl.SSLContext:
        """A client TLS context trusting `ca_file` presenting this identity (TlsFileError)."""
        return client_context(ca_file, self.cert_file, self.key_file)

    # --- start ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Provider, token, certificate: reconcile what is there or enrol (IdentityError)."""
        cfg = self.config
        try:
            cfg.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_token_provider_config(cfg.openssl_config, cfg.token_module, cfg.pin_file)
            load_token_provider(cfg.openssl_config)
        except OSError as err:
            raise IdentityError(
                f"cannot write to [identity] dir {cfg.dir}: {err.strerror}"
            ) from err
        except TlsProviderError as err:
            raise IdentityError(str(err)) from err
        self._token = await asyncio.to_thread(_open, token_config(cfg))
        await self._reconcile()
        if self.cert is None or self.expired(self._clock.time()):
            if cfg.enrolment_token_file is not None and cfg.enrolment_token_file.is_file():
                await self.enrol()
            elif self.cert is None:
                raise IdentityError(
                    "this kiosk has no certificate yet and no enrolment token: ask the fleet "
                    "for one (a technician's `kiosk-fleet` enrolment token for serial "
                    f"{cfg.serial}) and write it to [identity] enrolment_token_file"
                )
        assert self.cert is not None
        _log.info(
            "identity %s: certificate serial %x valid until %s, key %r in token %r",
            self.device_id,
            self.cert.serial_number,
            self.cert.not_valid_after_utc.isoformat(),
            self.key_label,
            cfg.token_label,
        )

    async def _reconcile(self) -> None:
        """Keep the token key that the certificate on disk names; destroy any other."""
        token = self._require_token()
        cert = _read_cert(self.cert_file)
        labels = await asyncio.to_thread(token.key_labels)
        keep: str | None = None
        if cert is not None:
            for label in labels:
                key = await asyncio.to_thread(token.find_key, label)
                if key.public_key() == cert.public_key():
                    keep = label
                    break
        for label in labels:
            if label != keep:
                _log.warning("destroying key %r: no certificate of this kiosk names it", label)
                await asyncio.to_thread(token.destroy, label)
        if keep is None:
            self.cert, self.key_label = None, None
            return
        self.cert, self.key_label = cert, keep
        await asyncio.to_thread(write_uri_pem, self.key_file, token.uri(keep))

    # --- enrolment and renewal ------------------------------------------------------------------

    async def enrol(self) -> None:
        """First enrolment (simpleenroll) with the technician's token from the token file."""
        cfg = self.config
        assert cfg.enrolment_token_file is not None
        try:
            secret = cfg.enrolment_token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            raise IdentityError(
                f"cannot read the enrolment token file {cfg.enrolment_token_file}"
            ) from err
        if not secret:
            raise IdentityError(f"the enrolment token file {cfg.enrolment_token_file} is empty")
        ctx = _context(client_context, cfg.est_ca_file)
        async with self._lock:
            old = self.key_label

            async def ask(csr: x509.CertificateSigningRequest) -> x509.Certificate:
                return await self._est.simpleenroll(csr, cfg.serial, secret, ctx)

            await self._replace(ask, old)
        _log.warning("kiosk %s enrolled (serial %s)", self.device_id, cfg.serial)

    async def renew(self, reason: str = "due") -> None:
        """A new key and certificate (simplereenroll), new TLS contexts, the old key destroyed."""
        cfg = self.config
        async with self._lock:
            old = self.key_label
            ctx = _context(client_context, cfg.est_ca_file, self.cert_file, self.key_file)

            async def ask(csr: x509.CertificateSigningRequest) -> x509.Certificate:
                return await self._est.simplereenroll(csr, ctx)

            await self._replace(ask, old)
            self.renewals += 1
        _log.warning("certificate of %s renewed (%s)", self.device_id, reason)

    async def _replace(
        self,
        ask: Callable[[x509.CertificateSigningRequest], Awaitable[x509.Certificate]],
        old: str | None,
    ) -> None:
        token = self._require_token()
        label = f"{self.device_id}-{int(self._clock.time())}-{secrets.token_hex(3)}"
        key = await asyncio.to_thread(token.generate_key, label)
        try:
            csr = await asyncio.to_thread(self._csr, key, token)
            cert = await ask(csr)
            self._check(cert, key)
            await asyncio.to_thread(self._install, cert, key)
        except BaseException:
            await asyncio.to_thread(token.destroy, label)
            raise
        self.cert, self.key_label = cert, label
        self._changed.set()
        for listener in list(self.listeners):
            await listener()  # new TLS contexts before the old key goes
        if old is not None and old != label:
            await asyncio.to_thread(token.destroy, old)

    def _csr(self, key: TokenKey, token: Token) -> x509.CertificateSigningRequest:
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, self.device_id),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.config.institution),
            ]
        )
        model = token.model.encode("utf-8")[:200]
        origin = x509.UnrecognizedExtension(
            x509.ObjectIdentifier(KEY_ORIGIN_OID), bytes([0x0C, len(model)]) + model
        )
        builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
        return builder.add_extension(origin, critical=False).sign(key, hashes.SHA256())

    def _check(self, cert: x509.Certificate, key: TokenKey) -> None:
        if cert.public_key() != key.public_key():
            raise IdentityError("the enrolment service returned a certificate for another key")
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names or names[0].value != self.device_id:
            raise IdentityError(
                f"the enrolment service returned a certificate for another device "
                f"({cert.subject.rfc4514_string()})"
            )

    def _install(self, cert: x509.Certificate, key: TokenKey) -> None:
        """Both files replaced by rename (a crash between them is reconciled at the next start)."""
        tmp = self.cert_file.with_name(f".{self.cert_file.name}.tmp")
        tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        tmp.replace(self.cert_file)
        write_uri_pem(self.key_file, key.uri)

    # --- the renewal loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Renew at `renew_at` of each certificate's life; after a failure, retry with backoff."""
        delay = self.config.retry_min
        while True:
            wait = max(0.0, self.renew_due() - self._clock.time())
            if wait > 0:
                self._changed.clear()
                await self._sleep_or_change(min(wait, 3600.0))
                continue
            try:
                await self.renew("two thirds of its life")
                delay = self.config.retry_min
                if self.renew_due() <= self._clock.time():  # due at once: a clock off the CA's
                    await self._clock.sleep(delay)  # not a renewal after renewal
            except IdentityError as err:
                _log.error("certificate renewal failed: %s; trying again in %.0f s", err, delay)
                await self._clock.sleep(delay)
                delay = min(delay * 2, self.config.retry_max)

    async def _sleep_or_change(self, seconds: float) -> None:
        """Sleep `seconds`, or less if a new certificate (rotate_certificate) arrives."""
        sleep = asyncio.ensure_future(self._clock.sleep(seconds))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({sleep, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleep, changed):
                task.cancel()
            await asyncio.gather(sleep, changed, return_exceptions=True)

    # --- token ----------------------------------------------------------------------------------

    def _require_token(self) -> Token:
        if self._token is None:
            raise IdentityError("the identity is not started")
        return self._token

    def close(self) -> None:
        """Close the token session."""
        if self._token is not None:
            try:
                self._token.close()
            except TokenError as err:
                _log.warning("closing the token session: %s", err)
            self._token = None


def _open(config: TokenConfig) -> Token:
    try:
        return Token.open(config)
    except TokenError as err:
        raise IdentityError(str(err)) from err


def _context(make: Callable[..., ssl.SSLContext], *paths: Path) -> ssl.SSLContext:
    try:
        return make(*paths)
    except TlsFileError as err:
        raise IdentityError(f"cannot build the EST client's TLS: {err}") from err


def _read_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        _log.error("the certificate %s does not load (%s): enrolling anew", path, err)
        return None
