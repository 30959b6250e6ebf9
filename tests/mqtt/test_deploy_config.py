"""deploy/mosquitto/ is the simulation's broker configuration with the paths of a deployment."""

from __future__ import annotations

from pathlib import Path

from kiosk_sim.mosquitto_config import deploy_files

FOLDER = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"


def test_the_deployed_files_are_the_generated_ones() -> None:
    wanted = deploy_files()
    assert sorted(p.name for p in FOLDER.iterdir()) == sorted(wanted)
    for name, text in wanted.items():
        assert (FOLDER / name).read_text() == text, (
            f"{name} differs: run python -m kiosk_sim.mosquitto_config deploy/mosquitto"
        )


def test_tls_1_3_only_and_a_per_subtopic_kiosk_acl() -> None:
    files = deploy_files()
    conf = files["kiosk-fleet.conf"].splitlines()
    assert conf.count("tls_version tlsv1.3") == 2
    assert not any("tlsv1.2" in line or line.startswith("ciphers ") for line in conf)
    kiosk = [line for line in files["acl-kiosks"].splitlines() if not line.startswith("#")]
    assert not any(line.endswith("/#") for line in kiosk)
