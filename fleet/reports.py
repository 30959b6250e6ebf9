"""Reading what the broker holds for a kiosk: its reports, our earlier documents, its presence,
and the one-line message for a kiosk that did not answer."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from fleet.config import FleetConfig
from fleet.errors import EXIT_USAGE, FleetError
from fleet.mqtt import Received
from protocol.mqtt import (
    PayloadError,
    Presence,
    ReportedMessage,
    StateMessage,
    TopicError,
    parse_reported,
    parse_state,
)
from protocol.signed import (
    DesiredState,
    SignedDocumentError,
    load_private_key,
    load_public_key,
    verify_document,
)


def certificate_cn(path: Path) -> str:
    """The CN of a PEM certificate (the admin's name at the broker)."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        value = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    except FileNotFoundError as err:
        raise FleetError(f"{path}: no such file (the admin certificate)") from err
    except (OSError, ValueError, IndexError) as err:
        raise FleetError(f"{path}: not a PEM certificate with a CN") from err
    return value if isinstance(value, str) else value.decode()


def desired_version(raw: bytes | None, keys: Mapping[str, Any] | None) -> int:
    """The version of a retained desired document we signed; 0 if none or not ours."""
    if not raw or not keys:
        return 0
    try:
        doc = verify_document(raw, keys)
    except SignedDocumentError:
        return 0  # signed by another admin key: the reported version still counts
    return doc.body.version if isinstance(doc.body, DesiredState) else 0


def reported_or_empty(raw: bytes | None) -> ReportedMessage:
    """A kiosk's retained report, or version 0 when it has none (or a malformed one)."""
    try:
        return parse_reported(raw or b"")
    except PayloadError:
        return ReportedMessage(0, False, (), False, 0)


def reported_for(reported_t: str, version: int, issued_at: int) -> Callable[[Received], bool]:
    """Matches the kiosk's report of `version`, or a live refusal of our document."""

    def match(msg: Received) -> bool:
        if msg.topic != reported_t:
            return False
        try:
            rep = parse_reported(msg.payload)
        except PayloadError:
            return False
        if rep.version >= version:
            return True
        rej = rep.rejected
        return (
            not msg.retain
            and rej is not None
            and rej.at >= issued_at - 300
            and rej.version in (None, version)
        )

    return match


def offline_message(
    device: str, version: int | None, state_raw: bytes | None, timeout: float, command: bool = False
) -> str:
    """Why a kiosk did not answer, from its retained presence."""
    what = "the command expires unanswered" if command else "the retained document waits for it"
    state: StateMessage | None = None
    if state_raw:
        try:
            state = parse_state(state_raw)
        except (PayloadError, TopicError):
            state = None
    if state is not None and state.status is not Presence.ONLINE:
        since = time.strftime(" since %Y-%m-%d %H:%M:%S UTC", time.gmtime(state.ts))
        where = f"{device} is {state.status.value}{since}"
    elif state is None:
        where = f"{device} has never connected"
    else:
        where = f"{device} is online but did not answer"
    subject = f"version {version}" if version is not None else "the command"
    return f"{where}: no report of {subject} within {timeout:g} s; {what}"


def read_signing_key(config: FleetConfig) -> Ed25519PrivateKey:
    """The admin's signing key; FleetError saying what is wrong with the file."""
    path = config.signing_key
    where = f"(signing_key in {config.source})"
    if path is None:
        raise FleetError(
            f"this action signs a document: no signing key in {config.source} "
            "(set [admin] signing_key; a read-only admin can only read)",
            EXIT_USAGE,
        )
    try:
        pem = path.read_bytes()
    except FileNotFoundError as err:
        raise FleetError(f"{path}: no such file {where}", EXIT_USAGE) from err
    except PermissionError as err:
        raise FleetError(f"{path}: cannot be read, permission denied {where}", EXIT_USAGE) from err
    except OSError as err:
        raise FleetError(f"{path}: cannot be read ({err.strerror}) {where}", EXIT_USAGE) from err
    try:
        return load_private_key(pem)
    except (ValueError, TypeError) as err:
        raise FleetError(
            f"{path}: not an unencrypted Ed25519 private key in PEM {where}", EXIT_USAGE
        ) from err


def read_public_key(config: FleetConfig) -> Ed25519PublicKey:
    """[admin] public_key (a read-only admin's copy of the admin public key)."""
    path = config.public_key
    assert path is not None
    try:
        return load_public_key(path.read_bytes())
    except OSError as err:
        why = "no such file" if isinstance(err, FileNotFoundError) else "cannot be read"
        raise FleetError(f"{path}: {why} (public_key in {config.source})", EXIT_USAGE) from err
    except ValueError as err:
        raise FleetError(
            f"{path}: not an Ed25519 public key in PEM (public_key in {config.source})", EXIT_USAGE
        ) from err
