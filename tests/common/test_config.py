"""common.config: one TOML reader naming the file, the line and the key; one ConfigError that
each package keeps in its own exception tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import ConfigError, ConfigFile, read_toml
from edge_agent.errors import AgentError
from edge_agent.errors import ConfigError as AgentConfigError
from fleet.errors import EXIT_USAGE, FleetError
from fleet.errors import ConfigError as FleetConfigError
from gateway.errors import ConfigError as GatewayConfigError
from gateway.errors import GatewayError
from protocol.strict import Reader


def test_a_file_is_read_with_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "x.toml"
    path.parent.mkdir()
    path.write_text('[tls]\ncert = "pki/server.pem"\nca = "/etc/ca.pem"\n')
    file = read_toml(path)
    assert file.data == {"tls": {"cert": "pki/server.pem", "ca": "/etc/ca.pem"}}
    tls = Reader(file.data, error=file.fail).nested("tls")
    assert file.path(tls.text("cert")) == path.parent.resolve() / "pki" / "server.pem"
    assert file.path(tls.text("ca")) == Path("/etc/ca.pem")
    with pytest.raises(ConfigError) as caught:
        tls.integer("cert")
    assert caught.value.key == "tls.cert" and caught.value.source == str(path)
    assert str(caught.value) == f"{path}: tls.cert: must be an integer (got a string)"


def test_toml_and_os_errors_name_the_file_and_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nport = 1\nhost = "a\n')
    with pytest.raises(ConfigError) as caught:
        read_toml(bad)
    assert caught.value.line == 3
    assert str(caught.value).startswith(f"{bad}:3: not valid TOML: ")
    assert "(at line" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"absent\.toml: cannot be read \(No such file"):
        read_toml(tmp_path / "absent.toml")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'name = "\xe9"\n')
    with pytest.raises(ConfigError, match="is not UTF-8"):
        read_toml(latin)


@pytest.mark.parametrize(
    ("error", "base"),
    [
        (GatewayConfigError, GatewayError),
        (AgentConfigError, AgentError),
        (FleetConfigError, FleetError),
    ],
)
def test_one_config_error_in_each_packages_tree(
    tmp_path: Path, error: type[ConfigError], base: type[Exception]
) -> None:
    (tmp_path / "x.toml").write_text("a = [")
    with pytest.raises(error) as caught:
        read_toml(tmp_path / "x.toml", error)
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, base)
    file = ConfigFile({"a": 1}, tmp_path, "x.toml", error)
    assert str(file.fail("a", "is wrong")) == "x.toml: a: is wrong"
    assert str(error("tls.cert", "not found")) == "tls.cert: not found"


def test_a_fleet_config_error_is_a_usage_error() -> None:
    assert FleetConfigError("k", "r").exit_code == EXIT_USAGE
    assert FleetError("x").exit_code == 1
