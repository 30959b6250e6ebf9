"""Fixed admin keys of the tests (deterministic Ed25519: golden vectors stay golden)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.signed import keyring

ADMIN = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))  # not pinned anywhere
KEYS = keyring(ADMIN.public_key())
