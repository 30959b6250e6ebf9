"""deploy/pcscd/: pcscd reachable by the kiosk agent's user only, consistent with its unit."""

from __future__ import annotations

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _settings(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_socket_is_the_agents_group_only() -> None:
    agent = _settings(DEPLOY / "kiosk-agent.service")
    socket = _settings(DEPLOY / "pcscd" / "pcscd.socket.d-kiosk.conf")
    assert socket["SocketMode"] == ["0660"]  # never the 0666 Debian ships
    assert socket["SocketUser"] == ["root"]
    assert socket["SocketGroup"] == agent["Group"]
    service = _settings(DEPLOY / "pcscd" / "pcscd.service.d-kiosk.conf")
    assert service["Requires"] == ["pcscd.socket"]
    assert f"/bin/chown root:{agent['Group'][0]} /run/pcscd" in service["ExecStartPost"]
    assert "/bin/chmod 0750 /run/pcscd" in service["ExecStartPost"]


def test_the_polkit_rule_allows_the_agents_user_and_refuses_everyone_else() -> None:
    agent = _settings(DEPLOY / "kiosk-agent.service")
    rule = (DEPLOY / "pcscd" / "50-kiosk-pcsc.rules").read_text()
    assert "org.debian.pcsc-lite.access_pcsc" in rule and "org.debian.pcsc-lite.access_card" in rule
    allowed = set(re.findall(r'subject\.user == "([^"]+)"', rule))
    assert allowed == {agent["User"][0], "root"}
    assert "return polkit.Result.NO;" in rule
