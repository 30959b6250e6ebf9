"""common.token against a real SoftHSM2 token: keys made, used, found and destroyed in it."""

from __future__ import annotations

import base64
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11

from common import token_session
from common.errors import (
    TokenError,
    TokenFullError,
    TokenKeyMissingError,
    TokenLockedError,
    TokenMissingError,
    TokenModuleError,
    TokenPinError,
    TokenPinFileError,
)
from common.token import Token, TokenConfig, TokenKey, token_uri, uri_pem, write_uri_pem


def test_a_key_made_in_the_token_signs_there_and_verifies_outside(opened_token: Token) -> None:
    key = opened_token.generate_key("kiosk-1")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.key_size == 256 and isinstance(key.curve, ec.SECP256R1)
    signature = key.sign(b"handover record", ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(signature, b"handover record", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        key.public_key().verify(signature, b"another record", ec.ECDSA(hashes.SHA256()))
    digest = hashes.Hash(hashes.SHA384())
    digest.update(b"prehashed")
    prehashed = ec.ECDSA(utils.Prehashed(hashes.SHA384()))
    key.public_key().verify(
        key.sign(digest.finalize(), prehashed), b"prehashed", ec.ECDSA(hashes.SHA384())
    )


def test_the_private_key_is_sensitive_and_never_leaves(
    opened_token: Token, softhsm_token: TokenConfig
) -> None:
    key = opened_token.generate_key("kiosk-1")
    with pytest.raises(TypeError):
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    with pytest.raises(TypeError):
        key.private_numbers()
    lib = pkcs11.lib(str(softhsm_token.module))
    # the process is logged in already (a PKCS#11 login is per process): a plain session sees it
    with lib.get_token(token_label=softhsm_token.label).open() as s:
        (private,) = s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        assert private[Attribute.LOCAL] is True  # made in the token, never imported
        with pytest.raises(p11.AttributeSensitive):
            private[Attribute.VALUE]


def test_certificate_and_csr_builders_sign_with_a_token_key(opened_token: Token) -> None:
    key = opened_token.generate_key("kiosk-1")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "kiosk-0001"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lembaga Contoh"),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    assert csr.is_signature_valid
    assert csr.public_key() == key.public_key()


def test_a_key_is_found_again_by_label_from_another_session(
    opened_token: Token, softhsm_token: TokenConfig
) -> None:
    made = opened_token.generate_key("kiosk-1")
    with Token.open(softhsm_token) as again:
        found = again.find_key("kiosk-1")
        assert found.public_key() == made.public_key()
        signature = found.sign(b"x", ec.ECDSA(hashes.SHA256()))
    made.public_key().verify(signature, b"x", ec.ECDSA(hashes.SHA256()))
    assert opened_token.key_labels() == ["kiosk-1"]
    assert opened_token.has_key("kiosk-1") and not opened_token.has_key("kiosk-2")


def test_a_second_key_with_the_same_label_is_refused(opened_token: Token) -> None:
    opened_token.generate_key("kiosk-1")
    with pytest.raises(TokenError, match="already on the token"):
        opened_token.generate_key("kiosk-1")


def test_destroy_removes_the_pair_and_destroy_all_everything(opened_token: Token) -> None:
    opened_token.generate_key("kiosk-1")
    opened_token.generate_key("kiosk-2")
    assert opened_token.destroy("kiosk-1") == 2  # private and public halves
    with pytest.raises(TokenKeyMissingError, match="no key 'kiosk-1'"):
        opened_token.find_key("kiosk-1")
    assert opened_token.key_labels() == ["kiosk-2"]
    assert opened_token.destroy_all() == 2
    assert opened_token.key_labels() == []
    assert opened_token.destroy("kiosk-2") == 0


def test_a_missing_module_is_named(softhsm_token: TokenConfig, tmp_path: Path) -> None:
    config = TokenConfig(tmp_path / "libnothere.so", softhsm_token.label, softhsm_token.pin_file)
    with pytest.raises(TokenModuleError, match=r"libnothere\.so.*missing.*token_module"):
        Token.open(config)


def test_a_file_that_is_no_module_is_named(softhsm_token: TokenConfig, tmp_path: Path) -> None:
    bogus = tmp_path / "libbogus.so"
    bogus.write_bytes(b"not a shared library")
    config = TokenConfig(bogus, softhsm_token.label, softhsm_token.pin_file)
    with pytest.raises(TokenModuleError, match="does not load"):
        Token.open(config)


def test_a_missing_token_is_named(softhsm_token: TokenConfig) -> None:
    config = TokenConfig(softhsm_token.module, "no-such-token", softhsm_token.pin_file)
    with pytest.raises(TokenMissingError, match=r"'no-such-token'.*no token with this label"):
        Token.open(config)


def test_a_wrong_pin_is_refused_without_showing_it(
    softhsm_token: TokenConfig, tmp_path: Path
) -> None:
    pin_file = tmp_path / "wrong.pin"
    pin_file.write_text("000000-wrong\n")
    config = TokenConfig(softhsm_token.module, softhsm_token.label, pin_file)
    with pytest.raises(TokenPinError, match=r"refused the PIN in .*wrong\.pin") as caught:
        Token.open(config)
    assert "000000-wrong" not in str(caught.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "is missing"),
        (lambda p: p.mkdir(), "cannot be read"),
        (lambda p: p.write_bytes(b"\xff\xfe"), "cannot be read"),
        (lambda p: p.write_text("\n"), "is empty"),
    ],
)
def test_an_unusable_pin_file_is_named(
    softhsm_token: TokenConfig, tmp_path: Path, make: object, message: str
) -> None:
    pin_file = tmp_path / "kiosk.pin"
    make(pin_file)  # type: ignore[operator]
    config = TokenConfig(softhsm_token.module, softhsm_token.label, pin_file)
    with pytest.raises(TokenPinFileError, match=f"kiosk.pin {message}"):
        Token.open(config)


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (p11.PinLocked(), TokenLockedError, "PIN is locked"),
        (p11.DeviceMemory(), TokenFullError, "token is full"),
        (p11.TokenNotPresent(), TokenMissingError, "no longer present"),
    ],
)
def test_locked_full_and_removed_tokens_become_typed_errors(
    error: p11.PKCS11Error, kind: type[TokenError], message: str
) -> None:
    # SoftHSM neither locks a PIN nor fills up: the translation is checked on the error itself.
    config = TokenConfig(Path("/usr/lib/libtoken.so"), "kiosk", Path("/etc/kiosk/token.pin"))
    with pytest.raises(kind, match=f"'kiosk' in /usr/lib/libtoken.so: .*{message}"):
        token_session.raise_token_error(config, error, "making the key 'k'")


def test_the_uri_names_token_key_and_pin_file() -> None:
    uri = token_uri("kiosk token", "id;1", Path("/etc/kiosk/token.pin"))
    assert uri == (
        "pkcs11:token=kiosk%20token;object=id%3B1;type=private?pin-source=file:/etc/kiosk/token.pin"
    )


def test_the_uri_pem_is_one_object_of_the_providers_type(tmp_path: Path) -> None:
    uri = "pkcs11:token=t;object=k;type=private"
    pem = uri_pem(uri).decode()
    lines = pem.splitlines()
    assert lines[0] == "-----BEGIN PKCS#11 PROVIDER URI-----"
    assert lines[-1] == "-----END PKCS#11 PROVIDER URI-----"
    der = base64.b64decode("".join(lines[1:-1]))
    # SEQUENCE { VisibleString "PKCS#11 Provider URI v1.0", UTF8String uri }: golden bytes
    desc = b"PKCS#11 Provider URI v1.0"
    assert der == (
        bytes([0x30, 2 + len(desc) + 2 + len(uri), 0x1A, len(desc)])
        + desc
        + bytes([0x0C, len(uri)])
        + uri.encode()
    )
    long_uri = "pkcs11:object=" + "k" * 300
    assert base64.b64decode("".join(uri_pem(long_uri).decode().splitlines()[1:-1]))[:4] == bytes(
        [0x30, 0x82, 0x01, 0x59]  # 27 + 4 + 314 bytes
    )
    path = tmp_path / "kiosk.key"
    write_uri_pem(path, uri)
    assert path.read_text() == pem
    assert [p.name for p in tmp_path.iterdir()] == ["kiosk.key"]


def test_a_token_key_is_a_cryptography_key(opened_token: Token) -> None:
    key = opened_token.generate_key("kiosk-1")
    assert isinstance(key, TokenKey)
    assert key.uri.startswith(
        f"pkcs11:token={opened_token.config.label};object=kiosk-1;type=private"
    )
    assert "kiosk-1" in repr(key)
    with pytest.raises(TypeError):
        key.exchange(ec.ECDH(), key.public_key())
