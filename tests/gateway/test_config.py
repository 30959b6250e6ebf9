"""Config validation names the bad key; the CLI maps config errors to exit code 2."""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.config import load_config, parse_config
from gateway.errors import ConfigError
from tests.gateway.conftest import Certs, base_config, to_toml


@pytest.fixture
def good(tmp_path: Path, certs: Certs) -> dict[str, Any]:
    return base_config(tmp_path, certs, "http://127.0.0.1:9", "sqlite", None)


def test_the_test_config_is_valid(good: dict[str, Any], tmp_path: Path) -> None:
    cfg = parse_config(good, tmp_path)
    assert cfg.institutions["dinsos-b"].policy.poc_approved
    assert cfg.institutions["perpus-a"].policy.daily_limit() == 200
    assert cfg.devices["KIOSK-A1"].reader_id == "RDR-A1"


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        ("tls.cert", _DELETE, "tls.cert"),
        ("tls.cert", "missing.pem", "tls.cert"),
        ("tls.min_version", "1.1", "tls.min_version"),
        ("tls.colour", "red", "tls.colour"),
        ("server.port", 70000, "server.port"),
        ("server.port", "8443", "server.port"),
        ("store.kind", "postgres", "store.kind"),
        ("store.path", _DELETE, "store.path"),
        ("upstream.url", "ftp://x", "upstream.url"),
        ("upstream.kind", "soap", "upstream.kind"),
        ("antiscrape.sequential_run", 1, "antiscrape.sequential_run"),
        ("institutions.perpus-a.province", "99", "institutions.perpus-a.province"),
        ("institutions.perpus-a.elements", ["nik", "agama"], "institutions.perpus-a.elements"),
        ("institutions.perpus-a.elements", [], "institutions.perpus-a.elements"),
        ("institutions.perpus-a.sanctions", {"quota": -5}, "institutions.perpus-a.sanctions.quota"),
        ("institutions.perpus-a.upstream_user", _DELETE, "institutions.perpus-a.upstream_user"),
        ("institutions.perpus-a.poc_approved", "no", "institutions.perpus-a.poc_approved"),
        ("devices.KIOSK-A1.institution", "nobody", "devices.KIOSK-A1.institution"),
        ("logging.level", "LOUD", "logging.level"),
        ("surprise", 1, "surprise"),
    ],
)
def test_errors_name_the_key(
    good: dict[str, Any], tmp_path: Path, path: str, value: Any, key: str
) -> None:
    doc = copy.deepcopy(good)
    _set(doc, path, value)
    with pytest.raises(ConfigError) as info:
        parse_config(doc, tmp_path)
    assert info.value.key == key


def test_redis_store_needs_a_url(good: dict[str, Any], tmp_path: Path) -> None:
    good["store"] = {"kind": "redis"}
    with pytest.raises(ConfigError, match=r"^store\.url: "):
        parse_config(good, tmp_path)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[tls\ncert = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_example_config_is_valid(good: dict[str, Any], tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "gateway.toml.example"
    doc = tomllib.loads(example.read_text())
    # Files of the example do not exist here: point them at the test ones.
    doc["tls"].update({k: good["tls"][k] for k in ("cert", "key", "device_ca", "admin_ca")})
    doc["tls"]["device_crl"] = good["tls"]["device_crl"]
    doc["upstream"]["ca_file"] = good["tls"]["device_ca"]
    for inst in doc["institutions"].values():
        inst["upstream_password_file"] = "secrets/perpus-a.password"
    cfg = parse_config(doc, tmp_path)
    assert cfg.institutions["perpus-banjarnegara"].policy.daily_limit() == 100
    assert cfg.institutions["dinsos-makassar"].policy.daily_limit() is None


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_check(good: dict[str, Any], tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(to_toml(good))
    ok = _cli("--config", str(cfg), "--check")
    assert (ok.returncode, ok.stderr.strip()) == (0, "kiosk-gateway: config OK")
    good["upstream"]["timeout_s"] = -1
    cfg.write_text(to_toml(good))
    bad = _cli("--config", str(cfg), "--check")
    assert bad.returncode == 2
    assert bad.stderr.startswith("kiosk-gateway: config error: upstream.timeout_s: ")
    assert "Traceback" not in bad.stderr
