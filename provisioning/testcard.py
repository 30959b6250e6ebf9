"""The self-test's card and finger on the real drivers: the technician's test card read through
the SAM (the agent's own card path, host key in the token), the SHA-256 of its NIK kept, its
right index template held in memory until the finger is matched on the module, then wiped."""

from __future__ import annotations

import hashlib
import threading

from common.buffers import wipe
from edge_agent.config import AgentConfig
from hardware.card.reader import Finger, IdentityField
from hardware.errors import CardError


class TestCardCheck:
    """`test_card` then `test_finger` (Backends' callables) on one kiosk's drivers."""

    def __init__(self) -> None:
        self._template: bytearray | None = None
        self._lock = threading.Lock()

    def test_card(self, config: AgentConfig) -> str:
        """Read the inserted card through the SAM; the SHA-256 (hex) of its NIK."""
        from edge_agent.wiring.card_reader import build_card_reader

        reader = build_card_reader(config.reader, config.identity)
        try:
            contents = reader.read()
        finally:
            close = getattr(reader, "close", None)
            if callable(close):
                close()
        try:
            nik = contents.identity.get(IdentityField.NIK)
            if nik is None:
                raise CardError("the card holds no NIK")
            digest = hashlib.sha256(bytes(nik)).hexdigest()
            template = contents.templates.get(Finger.RIGHT_INDEX)
            with self._lock:
                self._template = bytearray(template) if template is not None else None
        finally:
            contents.wipe()
        return digest

    def test_finger(self, config: AgentConfig) -> bool:
        """Match a finger on the module against the test card's right index template."""
        from hardware.fingerprint.module import FingerprintModule, open_serial

        with self._lock:
            template, self._template = self._template, None
        if template is None:
            return False
        fp = config.fingerprint
        port = open_serial(fp.port, fp.baud)
        try:
            module = FingerprintModule(port, fp.address, fp.password)
            module.verify_password()
            result = module.verify_finger(template, finger_timeout=config.timeouts.finger_wait)
            return bool(result.matched)
        finally:
            wipe(template)
            port.close()
