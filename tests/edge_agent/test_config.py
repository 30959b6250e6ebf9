"""agent.toml: the example parses; every mistake is refused with the key named."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import check_files, load_config, parse_config
from edge_agent.errors import ConfigError
from hardware.card.reader import Finger
from protocol.outcomes import Lang
from tests.edge_agent.certs import make_pki

EXAMPLE = Path(__file__).parents[2] / "deploy" / "agent.toml.example"

MINIMAL = """
[device]
id = "kiosk-0001"
[reader]
reader_id = "RDR-0001"
sam_id = "SAM-0001"
[gateway]
url = "https://127.0.0.1:8443"
ca_file = "ca.pem"
cert_file = "device.crt"
key_file = "device.key"
"""


def _data(extra: str = "") -> dict[str, Any]:
    return tomllib.loads(MINIMAL + extra)


def test_example_parses_with_its_values() -> None:
    config = load_config(EXAMPLE)
    assert config.device.id == "kiosk-0001"
    identity = Path("/var/lib/kiosk-agent/identity")  # the certificate enrolled there
    assert config.gateway.cert_file == identity / "device.crt"
    assert config.gateway.key_file == identity / "device.key"  # a URI PEM of the token key
    assert config.identity is not None and config.identity.token_label == "kiosk"
    assert config.timeouts.finger_wait == 20.0
    assert config.fingerprint.address == 0xFFFFFFFF
    assert config.session.first_finger is Finger.RIGHT_INDEX
    assert config.ui.language is Lang.ID
    assert config.ui.help_contact.startswith("Loket layanan") and config.ui.voice
    assert config.timeouts.notice == 30.0


def test_minimal_config_takes_the_defaults(tmp_path: Path) -> None:
    config = parse_config(_data(), base=tmp_path)
    assert config.gateway.ca_file == tmp_path / "ca.pem"
    assert config.timeouts.result_display == 8.0
    assert config.ui.host == "127.0.0.1" and config.ui.port == 8080
    assert config.ui.help_contact == "" and config.ui.voice
    assert config.ui.voice_dir == Path("/var/cache/kiosk-agent/voice")
    assert not config.indicators.enabled
    assert config.reader.card_reader is None


@pytest.mark.parametrize(
    ("extra", "key", "reason"),
    [
        ("[timeouts]\ncard_reed = 3\n", "timeouts.card_reed", "unknown key"),
        ("[screen]\nx = 1\n", "screen", "unknown section"),
        ('[timeouts]\ncard_read = "ten"\n', "timeouts.card_read", "must be a number of seconds"),
        ("[timeouts]\nquery = 0\n", "timeouts.query", "more than 0"),
        ("[timeouts]\nresult_display = -1\n", "timeouts.result_display", "more than 0"),
        ("[timeouts]\ncard_read = true\n", "timeouts.card_read", "got a boolean"),
        ("[session]\nmax_tries = 4\n", "session.max_tries", "between 1 and 3"),
        ('[session]\nfirst_finger = "thumb"\n', "session.first_finger", "must be one of"),
        ('[ui]\nhost = "0.0.0.0"\n', "ui.host", "loopback"),
        ('[ui]\nhost = "kiosk.example"\n', "ui.host", "loopback"),
        ("[ui]\nport = 70000\n", "ui.port", "between 0 and 65535"),
        ('[ui]\nlanguage = "jv"\n', "ui.language", "must be one of"),
        (f'[ui]\nhelp_contact = "{"x" * 81}"\n', "ui.help_contact", "must match"),
        ('[ui]\nhelp_contact = "a\\nb"\n', "ui.help_contact", "must match"),
        ('[ui]\nvoice = "no"\n', "ui.voice", "true or false"),
        ("[timeouts]\nnotice = 0\n", "timeouts.notice", "more than 0"),
        ('[log]\nlevel = "LOUD"\n', "log.level", "must be one of"),
        ("[fingerprint]\nbaud = 1200\n", "fingerprint.baud", "between"),
        ('[indicators]\nenabled = "yes"\n', "indicators.enabled", "true or false"),
    ],
)
def test_bad_values_name_the_key(extra: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_data(extra), source="agent.toml")
    assert caught.value.key == key
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"agent.toml: {key}: ")


@pytest.mark.parametrize(
    ("replace", "key"),
    [
        (('id = "kiosk-0001"', ""), "device.id"),
        (('id = "kiosk-0001"', 'id = "kiosk 0001/x"'), "device.id"),
        (('sam_id = "SAM-0001"', ""), "reader.sam_id"),
        (('url = "https://127.0.0.1:8443"', 'url = "http://127.0.0.1:8443"'), "gateway.url"),
        (('url = "https://127.0.0.1:8443"', 'url = "https://127.0.0.1:99999"'), "gateway.url"),
        (('url = "https://127.0.0.1:8443"', 'url = "https://h/?a=1"'), "gateway.url"),
        (('key_file = "device.key"', ""), "gateway.key_file"),
        (("[reader]", "[readers]"), "readers"),
    ],
)
def test_required_and_malformed_keys(replace: tuple[str, str], key: str) -> None:
    text = MINIMAL.replace(*replace)
    with pytest.raises(ConfigError) as caught:
        parse_config(tomllib.loads(text))
    assert caught.value.key == key


def test_section_that_is_not_a_table() -> None:
    with pytest.raises(ConfigError, match="ui: must be a table"):
        parse_config(tomllib.loads("ui = 3\n" + MINIMAL))


def test_missing_section_is_named() -> None:
    data = _data()
    del data["gateway"]
    with pytest.raises(ConfigError, match="gateway: section is required"):
        parse_config(data)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[device\nid = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_check_files_finds_missing_files_and_a_wrong_cn(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki", device_id="kiosk-0001")
    text = (
        MINIMAL.replace('"ca.pem"', f'"{pki.ca.path}"')
        .replace('"device.crt"', f'"{pki.client.cert}"')
        .replace('"device.key"', f'"{pki.client.key}"')
    )
    path = tmp_path / "agent.toml"
    path.write_text(text)
    check_files(load_config(path))

    path.write_text(text.replace('id = "kiosk-0001"', 'id = "kiosk-0002"'))
    with pytest.raises(ConfigError) as caught:
        check_files(load_config(path))
    assert caught.value.key == "device.id" and "kiosk-0001" in str(caught.value)

    path.write_text(text.replace(str(pki.client.key), str(tmp_path / "nope.key")))
    with pytest.raises(ConfigError) as caught:
        check_files(load_config(path))
    assert caught.value.key == "gateway.key_file"
