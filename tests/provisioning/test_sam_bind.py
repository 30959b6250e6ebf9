"""kiosk-provision's SAM step: the host key made in the kiosk's token (SoftHSM), set in the
SAM, proven; run again; every refusal a typed error naming the reader and what to do."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from common.token import Token, TokenConfig
from common.token_secret import find_aes_key, has_aes_key, key_is_protected
from edge_agent.config import AgentConfig, parse_config
from edge_agent.wiring.card_reader import TokenHostKey
from hardware.card.apdu import ApduTransport
from hardware.card.ktpel import KtpelProfile
from hardware.errors import CardError, NoReaderError, SamMissingError, SamNotBoundError
from provisioning.errors import EXIT_SAM, SamBindError
from provisioning.sam_bind import (
    PcscUnavailable,
    SamBoundElsewhere,
    SamMissing,
    SamNotActivated,
    SamTokenMissing,
    bind_sam,
    open_kiosk_token,
    unbind_sam,
)
from simulators.card import DirectTransport, VirtualSam, card_for
from simulators.card.sam_binding import issuer_reset
from simulators.vpcd import VirtualCard

T = TypeVar("T")
READER = "Virtual PCD 00 01"

AGENT_TOML = """
[device]
id = "kiosk-0001"
[reader]
reader_id = "RDR-0001"
sam_id = "SAM-0001"
sam_reader = "Virtual PCD 00 01"
[gateway]
url = "https://127.0.0.1:8443"
ca_file = "ca.pem"
"""


class InSlot:
    """The SAM slot with a chip in it, reached in process (SamAccess)."""

    def __init__(self, chip: VirtualCard) -> None:
        self.chip = chip
        self.sessions = 0

    def with_sam(self, fn: Callable[[ApduTransport], T]) -> T:
        self.sessions += 1
        self.chip.power_on()  # each PC/SC session starts from a reset chip
        try:
            return fn(DirectTransport(self.chip))
        finally:
            self.chip.reset()


class Failing:
    """A SAM slot whose PC/SC access fails with `error`."""

    def __init__(self, error: CardError) -> None:
        self.error = error

    def with_sam(self, fn: Callable[[ApduTransport], T]) -> T:
        raise self.error


def config(tmp_path: Path, identity: TokenConfig | None = None) -> AgentConfig:
    text = AGENT_TOML
    if identity is None:
        text += 'cert_file = "device.crt"\nkey_file = "device.key"\n'
    else:
        text += f"""
[identity]
token_module = "{identity.module}"
token_label = "{identity.label}"
pin_file = "{identity.pin_file}"
est_url = "https://127.0.0.1:9443/.well-known/est"
est_ca_file = "ca.pem"
institution = "INST-0001"
serial = "SN-0001"
dir = "{tmp_path / "identity"}"
"""
    return parse_config(tomllib.loads(text), base=tmp_path)


def test_binds_a_fresh_sam_with_a_key_that_stays_in_the_token(
    tmp_path: Path, opened_token: Token, softhsm_token: TokenConfig
) -> None:
    sam = VirtualSam(state_file=tmp_path / "sam.json")
    cfg = config(tmp_path, softhsm_token)
    binding = bind_sam(cfg, opened_token, access=InSlot(sam))
    assert binding.newly_bound
    assert binding.as_json() == {
        "sam_reader": READER,
        "token_label": softhsm_token.label,
        "key_label": "kiosk-sam-host",
        "newly_bound": True,
    }
    assert sam.binding.bound and VirtualSam(state_file=tmp_path / "sam.json").binding.bound
    key = find_aes_key(opened_token, "kiosk-sam-host")
    assert key_is_protected(key)  # CKA_SENSITIVE, not extractable: no copy leaves the token
    # the agent's reader authenticates with the key in the token, and reads the card
    host_key = TokenHostKey(softhsm_token, "kiosk-sam-host")
    contents = KtpelProfile(host_key=host_key).read(
        DirectTransport(card_for("ayu")), DirectTransport(sam)
    )
    assert len(contents.identity) == 18
    contents.wipe()
    host_key.close()


def test_running_it_again_proves_and_keeps_the_binding(tmp_path: Path, opened_token: Token) -> None:
    slot = InSlot(VirtualSam())
    cfg = config(tmp_path)
    assert bind_sam(cfg, opened_token, access=slot).newly_bound
    again = bind_sam(cfg, opened_token, access=slot)
    assert not again.newly_bound
    assert slot.sessions == 3  # bind, prove, then one proof on the second run


def test_a_sam_bound_to_another_kiosk_needs_its_issuer(tmp_path: Path, opened_token: Token) -> None:
    sam = VirtualSam(host_key=b"OTHER-KIOSK-KEY!")
    with pytest.raises(SamBoundElsewhere) as info:
        bind_sam(config(tmp_path), opened_token, access=InSlot(sam))
    err = info.value
    assert err.code == "SAM_BOUND_ELSEWHERE" and err.exit_code == EXIT_SAM
    assert READER in err.message_en and "issuer" in err.message_en
    assert READER in err.message_id and "penerbit" in err.message_id
    assert not has_aes_key(opened_token, "kiosk-sam-host")  # nothing half-made left behind
    issuer_reset(DirectTransport(sam))  # the issuer resets it: now it binds
    assert bind_sam(config(tmp_path), opened_token, access=InSlot(sam)).newly_bound


def test_a_stale_key_is_replaced_when_the_sam_was_reset(
    tmp_path: Path, opened_token: Token
) -> None:
    sam = VirtualSam()
    cfg = config(tmp_path)
    bind_sam(cfg, opened_token, access=InSlot(sam))
    issuer_reset(DirectTransport(sam))
    rebound = bind_sam(cfg, opened_token, access=InSlot(sam))
    assert rebound.newly_bound and sam.binding.bound


def test_decommission_releases_the_sam_and_destroys_the_key(
    tmp_path: Path, opened_token: Token
) -> None:
    sam = VirtualSam()
    cfg = config(tmp_path)
    bind_sam(cfg, opened_token, access=InSlot(sam))
    assert unbind_sam(cfg, opened_token, access=InSlot(sam))
    assert not sam.binding.bound
    assert not has_aes_key(opened_token, "kiosk-sam-host")
    assert not unbind_sam(cfg, opened_token, access=InSlot(sam))  # again: nothing to do
    assert bind_sam(cfg, opened_token, access=InSlot(sam)).newly_bound  # fresh provisioning


@pytest.mark.parametrize(
    ("slot", "kind", "code"),
    [
        (InSlot(card_for("ayu")), SamMissing, "SAM_MISSING"),  # an ID card in the SAM slot
        (Failing(SamMissingError("no SAM, connect")), SamMissing, "SAM_MISSING"),
        (InSlot(VirtualSam(activated=False)), SamNotActivated, "SAM_NOT_ACTIVATED"),
        (Failing(NoReaderError("sam reader unavailable")), PcscUnavailable, "PCSC_UNAVAILABLE"),
    ],
    ids=["card-in-sam-slot", "empty-slot", "not-activated", "no-pcscd"],
)
def test_refusals_are_typed_and_say_what_to_do(
    tmp_path: Path,
    opened_token: Token,
    slot: InSlot | Failing,
    kind: type[SamBindError],
    code: str,
) -> None:
    with pytest.raises(kind) as info:
        bind_sam(config(tmp_path), opened_token, access=slot)
    assert info.value.code == code
    assert info.value.exit_code == EXIT_SAM
    assert READER in info.value.message_en and READER in info.value.message_id
    assert not has_aes_key(opened_token, "kiosk-sam-host")


def test_no_token(tmp_path: Path, softhsm_token: TokenConfig) -> None:
    with pytest.raises(SamTokenMissing) as info:
        open_kiosk_token(config(tmp_path))
    assert info.value.code == "TOKEN_MISSING" and "[identity]" in info.value.message_en
    gone = TokenConfig(softhsm_token.module, "no-such-token", softhsm_token.pin_file)
    with pytest.raises(SamTokenMissing) as info:
        open_kiosk_token(config(tmp_path, gone))
    assert info.value.code == "TOKEN_MISSING" and "no-such-token" in info.value.message_en
    with open_kiosk_token(config(tmp_path, softhsm_token)) as token:
        assert token.config.label == softhsm_token.label


def test_the_agent_without_the_key_is_told_to_provision(softhsm_token: TokenConfig) -> None:
    host_key = TokenHostKey(softhsm_token, "kiosk-sam-host")
    sam = VirtualSam(host_key=b"SOME-KIOSK-KEY!!")
    with pytest.raises(SamNotBoundError, match="kiosk-provision"):
        KtpelProfile(host_key=host_key).read(DirectTransport(card_for("ayu")), DirectTransport(sam))
    host_key.close()
