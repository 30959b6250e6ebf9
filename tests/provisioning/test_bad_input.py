"""Bad input during `kiosk-provision install`: each a typed failure with a message a person can
act on, the step's exit code, and (where waiting helps) a run again that continues."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fleet.ca.issuer import digest
from hardware.errors import SensorError
from provisioning import binding
from provisioning.binding import DeviceMissingError
from provisioning.sam_bind import SamMissing
from tests.provisioning.conftest import INSTITUTION, SERIAL, FakeInventory, Kiosk, failure, steps_of


def _token(kiosk: Kiosk, tmp_path: Path) -> tuple[str, Path]:
    issued = kiosk.fleet.issuer.issue_token(
        kiosk.fleet.store, serial=SERIAL, institution=INSTITUTION, technician="tech-1"
    )
    path = tmp_path / "token.txt"
    path.write_text(issued.token + "\n")
    return issued.token, path


async def test_a_used_enrolment_token(kiosk: Kiosk, tmp_path: Path) -> None:
    token, path = _token(kiosk, tmp_path)
    kiosk.fleet.store.use_enrol_token(digest(token), SERIAL, int(kiosk.fleet.wall.now))
    code, lines = await kiosk.run("install", "--enrolment-token-file", str(path))
    assert code == 20
    error = failure(lines)
    assert error["code"] == "ENROL_FAILED"
    assert "already used" in error["message_en"] and "token" in error["message_id"]
    code, _ = await kiosk.run("install")  # without the file: the tool asks for a fresh one
    assert code == 0


async def test_an_expired_enrolment_token(kiosk: Kiosk, tmp_path: Path) -> None:
    _, path = _token(kiosk, tmp_path)
    kiosk.fleet.wall.now += 16 * 60
    code, lines = await kiosk.run("install", "--enrolment-token-file", str(path))
    assert code == 20
    assert "expired" in failure(lines)["message_en"]


async def test_the_wrong_kiosk_serial(kiosk: Kiosk) -> None:
    args = kiosk.args("install")
    args.serial = "SN-9999"
    import io
    import json

    from provisioning import cli

    out = io.StringIO()
    code = await cli.run(args, backends=kiosk.backends, prompt=kiosk.prompter, stream=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert code == 20
    error = failure(lines)
    assert error["code"] == "WRONG_SERIAL"
    assert "SN-9999" in error["message_en"] and SERIAL in error["message_id"]
    assert not kiosk.config.gateway.cert_file.exists()  # nothing enrolled


def _missing(device: str) -> Any:
    def read(config: object) -> FakeInventory:
        raise DeviceMissingError(
            device,
            f"{device.upper()}_MISSING",
            f"{device} tidak menjawab: periksa kabelnya.",
            f"The {device} does not answer: check its cable.",
        )

    return read


async def test_a_sam_not_activated(kiosk: Kiosk) -> None:
    code, lines = await kiosk.run(
        "install",
        read_inventory=lambda config: FakeInventory(sam_activated=False),
        register_inventory=binding.register_inventory,  # refuses before sending anything
    )
    assert code == 30
    error = failure(lines)
    assert error["code"] == "SAM_NOT_ACTIVATED" and "Dukcapil" in error["message_en"]


async def test_the_sam_step_failing(kiosk: Kiosk) -> None:
    def absent(config: object, token: object) -> object:
        raise SamMissing("SAM_MISSING", "SAM tidak ada.", "No SAM in the SAM slot.")

    code, lines = await kiosk.run("install", bind_sam=absent)
    assert code == 40
    assert failure(lines)["code"] == "SAM_MISSING"


async def test_a_reader_sam_or_sensor_missing(kiosk: Kiosk) -> None:
    for device in ("reader", "sam", "sensor"):
        code, lines = await kiosk.run("install", read_inventory=_missing(device))
        assert code == 30
        assert failure(lines)["code"] == f"{device.upper()}_MISSING"
    code, lines = await kiosk.run("install")
    assert code == 0
    done = [line for line in lines if line["event"] == "done"]
    assert [line["again"] for line in done if line["step"] == "enrol"] == [True]


async def test_the_mcu_missing_or_silent(kiosk: Kiosk) -> None:
    @contextlib.contextmanager
    def absent(config: object) -> Iterator[Any]:
        raise FileNotFoundError(2, "No such file or directory")
        yield

    code, lines = await kiosk.run("install", supervisor=absent)
    assert code == 50
    error = failure(lines)
    assert error["code"] == "MCU_MISSING" and "[supervisor] port" in error["message_en"]
    kiosk.mcu.silent = True
    code, lines = await kiosk.run("install")
    assert code == 50
    assert failure(lines)["code"] == "MCU_NOT_ANSWERING" and failure(lines)["retry"]
    kiosk.mcu.silent = False
    assert (await kiosk.run("install"))[0] == 0


async def test_a_card_that_is_not_the_test_card(kiosk: Kiosk) -> None:
    code, lines = await kiosk.run("install", test_card=lambda config: "0" * 64)
    assert code == 60
    error = failure(lines)
    assert error["code"] == "NOT_TEST_CARD"
    assert "test card" in error["message_en"] and "kartu uji" in error["message_id"]


async def test_a_sensor_not_answering_in_the_self_test(kiosk: Kiosk) -> None:
    def silent(config: object) -> bool:
        raise SensorError("no answer")

    code, lines = await kiosk.run("install", test_finger=silent)
    assert code == 60
    assert failure(lines)["code"] == "SENSOR_FAILED"


async def test_lights_not_confirmed(kiosk: Kiosk) -> None:
    args = kiosk.args("install")
    args.confirm_indicators = False
    kiosk.prompter.answer = False
    import io

    from provisioning import cli

    code = await cli.run(args, backends=kiosk.backends, prompt=kiosk.prompter, stream=io.StringIO())
    assert code == 60
    assert any("lights" in q for q in kiosk.prompter.asked)


async def test_the_fleet_service_unreachable_mid_way(kiosk: Kiosk) -> None:
    """Enrolled, then the fleet goes away: the MCU key's escrow fails (nothing set in the MCU),
    and once the fleet is back the same command continues."""
    await kiosk.fleet.stop("fleet")
    code, lines = await kiosk.run("install")
    assert code == 10  # preflight reads the fleet's clock
    assert failure(lines)["code"] == "FLEET_UNREACHABLE" and failure(lines)["retry"]
    await kiosk.fleet.start("fleet")
    code, lines = await kiosk.run("install", test_card=lambda config: "0" * 64)
    assert code == 60
    await kiosk.fleet.stop("fleet")
    code, lines = await kiosk.run("install")
    assert code == 60 and failure(lines)["code"] == "FLEET_UNREACHABLE"
    await kiosk.fleet.start("fleet")
    code, lines = await kiosk.run("install")
    assert code == 0, lines


async def test_the_gateway_unreachable_mid_way(kiosk: Kiosk) -> None:
    await kiosk.fleet.stop("gateway")
    code, lines = await kiosk.run("install")
    assert code == 60
    error = failure(lines)
    assert error["code"] == "GATEWAY_UNREACHABLE" and error["retry"]
    assert steps_of(lines, "done") == [
        "preflight",
        "enrol",
        "bind_hardware",
        "bind_sam",
        "mcu_key",
    ]
    await kiosk.fleet.start("gateway")
    code, lines = await kiosk.run("install")
    assert code == 0
    assert steps_of(lines, "done")[-2:] == ["selftest", "handover"]


async def test_the_escrow_refuses_a_second_key(kiosk: Kiosk) -> None:
    """An MCU whose key was lost from the kiosk side: the fleet keeps the first key."""
    assert (await kiosk.run("install"))[0] == 0
    import pytest

    from fleet.ca.errors import EnrolError
    from fleet.provisioning.escrow import escrow

    with pytest.raises(EnrolError, match="another MCU key"):
        escrow(kiosk.fleet.store, "KIOSK-EST-1", b"\x01" * 32, 0)


async def test_a_kiosk_clock_off_by_more_than_two_seconds(kiosk: Kiosk) -> None:
    kiosk.wall = lambda: time.time() - 10.0
    code, lines = await kiosk.run("install")
    assert code == 10
    error = failure(lines)
    assert error["code"] == "CLOCK_SKEW" and "NTP" in error["message_en"] and error["retry"]
    kiosk.wall = time.time
    assert (await kiosk.run("install"))[0] == 0


async def test_a_full_disk_and_a_hot_cpu(kiosk: Kiosk) -> None:
    code, lines = await kiosk.run("install", disk_usage=lambda path: (50 * 2**20, 32 * 2**30))
    assert code == 10 and failure(lines)["code"] == "DISK_FULL"
    assert "50 MB" in failure(lines)["message_en"]
    code, lines = await kiosk.run("install", temperature=lambda: 91.0)
    assert code == 10 and failure(lines)["code"] == "TOO_HOT"


async def test_the_kiosk_token_missing(kiosk: Kiosk) -> None:
    from common.errors import TokenMissingError

    def missing(config: Any) -> Any:
        raise TokenMissingError(config.module, config.label, "no token with this label")

    code, lines = await kiosk.run("install", open_token=missing)
    assert code == 10
    error = failure(lines)
    assert error["code"] == "TOKEN_UNAVAILABLE" and "no token" in error["message_en"]
