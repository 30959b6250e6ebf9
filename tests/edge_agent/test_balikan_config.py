"""[balikan] of agent.toml: absent means no data balikan; every mistake names its key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edge_agent.config import check_files, parse_config
from edge_agent.errors import ConfigError
from protocol.elements import DataElement
from tests.edge_agent.certs import make_pki
from tests.edge_agent.test_config import MINIMAL

BALIKAN = """
[balikan]
url = "https://perpus.example:8443/v1/members"
ca_file = "institution-ca.pem"
elements = ["nama_lengkap", "nik"]
"""


def test_absent_means_no_balikan(tmp_path: Path) -> None:
    assert parse_config(tomllib.loads(MINIMAL), base=tmp_path).balikan is None


def test_defaults_and_element_order(tmp_path: Path) -> None:
    config = parse_config(tomllib.loads(MINIMAL + BALIKAN), base=tmp_path).balikan
    assert config is not None
    assert config.ca_file == tmp_path / "institution-ca.pem"
    assert config.elements == (DataElement.NIK, DataElement.FULL_NAME)  # in the PKS order
    assert (config.cert_file, config.key_file) == (None, None)  # the [gateway] ones
    assert (config.timeout, config.return_attempts) == (5.0, 3)
    assert config.label_id.startswith("Nomor")


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        ('url = "http://perpus.example/v1/members"', "balikan.url", "must be an https:// URL"),
        ('url = "https://perpus.example/v1/members?x=1"', "balikan.url", "no user, query"),
        ('url = "https://perpus.example:99999/"', "balikan.url", "not a valid URL"),
        ('elements = ["nik", "sidik_jari"]', "balikan.elements", "unknown data element"),
        ("elements = []", "balikan.elements", "must not be empty"),
        ('cert_file = "kiosk.pem"', "balikan.key_file", "give cert_file and key_file both"),
        ("return_attempts = 9", "balikan.return_attempts", ""),
        ("timeout = -1", "balikan.timeout", ""),
        ('label_id = "' + "x" * 61 + '"', "balikan.label_id", "at most 60 characters"),
        ("retries = 2", "balikan.retries", "unknown key"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, change: str, key: str, reason: str) -> None:
    name = change.split(" = ")[0]
    lines = [ln for ln in BALIKAN.splitlines() if not ln.startswith(name + " =")]
    data = tomllib.loads(MINIMAL + "\n".join(lines) + "\n" + change + "\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(data, base=tmp_path)
    assert caught.value.key == key
    assert reason in caught.value.reason


def test_check_files_names_a_missing_balikan_file(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    text = (
        f"""
[device]
id = "{pki.device_id}"
[reader]
reader_id = "RDR-0001"
sam_id = "SAM-0001"
[gateway]
url = "https://127.0.0.1:8443"
ca_file = "{pki.ca.path}"
cert_file = "{pki.client.cert}"
key_file = "{pki.client.key}"
"""
        + BALIKAN
    )
    config = parse_config(tomllib.loads(text), base=tmp_path)
    with pytest.raises(ConfigError) as caught:
        check_files(config)
    assert caught.value.key == "balikan.ca_file" and "file not found" in caught.value.reason
    (tmp_path / "institution-ca.pem").write_text("x")
    check_files(config)
