"""The self-test: the technician's test card through the SAM, its finger, the LEDs and buzzer
(the technician confirms), the tamper switch opened and closed, the MCU's heartbeat and latch,
the gateway's health with the new certificate, a round trip through the broker.

Each check answers pass or skipped (not configured on this kiosk) or raises SelfTestError naming
what to check. The test card is known by the SHA-256 of its NIK only (simulators/personas.toml
`teknisi`); no card data is kept or logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from hardware.errors import HardwareError
from provisioning.backends import McuLink
from provisioning.errors import SelfTestError
from provisioning.install import MAX_SKEW_S
from provisioning.session import Session

_log = logging.getLogger(__name__)
TEST_CARD_NIK_SHA256 = "e6157e61b525313c09503e89f32fc3908629554bdbc48e50fe009e10e5d85d52"
HEARTBEATS = 3
POLL_S = 0.05
PATTERNS = ("success", "busy", "failure", "idle")


async def selftest(s: Session) -> dict[str, Any]:
    """Every check in turn; the results by name and the measurements."""
    results: dict[str, str] = {}
    facts: dict[str, Any] = {}
    results["card"] = await _card(s)
    results["finger"] = await _finger(s)
    if s.config.supervisor is not None:
        try:
            with s.mcu() as link:
                results["indicators"] = await _indicators(s, link)
                results["tamper"] = await _tamper(s, link)
                results["mcu"] = await _mcu(s, link)
        except (HardwareError, OSError) as err:
            raise SelfTestError(
                "MCU_NOT_ANSWERING",
                f"MCU pengawas tidak menjawab ({type(err).__name__}): periksa kabel UART dan"
                " dayanya, lalu ulangi.",
                f"The supervisor MCU does not answer ({type(err).__name__}): check its UART"
                " cable and power, then run again.",
                retry=True,
            ) from err
    else:
        results.update(indicators="skipped", tamper="skipped", mcu="skipped")
    ident = await s.identity(SelfTestError)
    ctx = ident.client_context(s.config.gateway.ca_file)
    skew = await s.backends.gateway_health(s.config, ctx)
    if abs(skew) > MAX_SKEW_S + 0.5:
        raise SelfTestError(
            "CLOCK_SKEW",
            f"Jam kios berbeda {skew:+.0f} detik dari jam gateway: periksa NTP lalu ulangi.",
            f"The kiosk's clock is {skew:+.0f} s off the gateway's: check NTP and run again.",
            retry=True,
        )
    results["gateway"] = "pass"
    facts["gateway_clock_skew_s"] = round(skew, 1)
    if s.config.mqtt is not None:
        mqtt_ctx = ident.client_context(s.config.mqtt.ca_file or s.config.gateway.ca_file)
        facts["broker_ms"] = round(
            await s.in_thread(s.backends.broker_round_trip, s.config, mqtt_ctx), 1
        )
        results["broker"] = "pass"
    else:
        results["broker"] = "skipped"
    return {"results": results, **facts}


async def _card(s: Session) -> str:
    await s.in_thread(
        s.prompt.wait,
        "Masukkan kartu uji teknisi ke pembaca kartu.",
        "Insert the technician's test card into the card reader.",
    )
    try:
        digest = await s.in_thread(s.backends.test_card, s.config)
    except NotImplementedError:
        return "skipped"
    except (HardwareError, OSError) as err:
        raise SelfTestError(
            "CARD_READ_FAILED",
            f"Kartu uji tidak terbaca melalui SAM ({type(err).__name__}): periksa kartu"
            " terpasang, SAM terpasang dan sudah diikat, lalu ulangi.",
            f"The test card could not be read through the SAM ({type(err).__name__}): check the"
            " card is inserted and the SAM is in place and bound, then run again.",
            retry=True,
        ) from err
    if digest != TEST_CARD_NIK_SHA256:
        raise SelfTestError(
            "NOT_TEST_CARD",
            "Kartu yang terbaca bukan kartu uji teknisi: keluarkan kartu itu dan gunakan kartu"
            " uji (jangan gunakan KTP-el milik seseorang).",
            "The card read is not the technician's test card: remove it and use the test card"
            " (never a person's own KTP-el).",
        )
    return "pass"


async def _finger(s: Session) -> str:
    check = s.backends.test_finger
    if check is None:
        return "skipped"
    await s.in_thread(
        s.prompt.wait,
        "Letakkan jari uji pada sensor sidik jari.",
        "Place the test finger on the fingerprint sensor.",
    )
    try:
        matched = await s.in_thread(check, s.config)
    except (HardwareError, OSError) as err:
        raise SelfTestError(
            "SENSOR_FAILED",
            f"Sensor sidik jari tidak menjawab ({type(err).__name__}): periksa kabel dan daya"
            " modul, lalu ulangi.",
            f"The fingerprint sensor does not answer ({type(err).__name__}): check the module's"
            " cable and power, then run again.",
            retry=True,
        ) from err
    if not matched:
        raise SelfTestError(
            "FINGER_NO_MATCH",
            "Sidik jari uji tidak cocok dengan templat kartu uji: bersihkan sensor dan ulangi.",
            "The test finger did not match the test card's template: clean the sensor and run"
            " again.",
            retry=True,
        )
    return "pass"


async def _indicators(s: Session, link: McuLink) -> str:
    for pattern in PATTERNS:
        await s.in_thread(link.set_pattern, pattern)
    await s.in_thread(link.buzzer, 200)
    if s.options.confirm_indicators:
        return "pass"
    ok = await s.in_thread(
        s.prompt.confirm,
        "Apakah lampu hijau, kuning, merah menyala bergantian dan bel berbunyi?",
        "Did the green, amber and red lights show in turn and the buzzer sound?",
    )
    if not ok:
        raise SelfTestError(
            "INDICATORS_FAILED",
            "Lampu atau bel tidak bekerja: periksa kabel LED dan bel ke MCU, lalu ulangi.",
            "A light or the buzzer did not work: check the LED and buzzer wiring to the MCU,"
            " then run again.",
        )
    return "pass"


async def _tamper(s: Session, link: McuLink) -> str:
    await s.in_thread(
        s.prompt.wait, "Buka penutup kios sekarang.", "Open the kiosk's enclosure now."
    )
    opened = await s.in_thread(
        _status_until, link, lambda st: st.enclosure_open or st.tamper_latched
    )
    if not (opened.enclosure_open or opened.tamper_latched):
        raise SelfTestError(
            "TAMPER_NOT_SEEN",
            "MCU tidak melihat penutup terbuka: periksa sakelar tamper dan kabelnya.",
            "The MCU did not see the enclosure open: check the tamper switch and its wiring.",
        )
    await s.in_thread(
        s.prompt.wait, "Tutup kembali penutup kios.", "Close the kiosk's enclosure again."
    )
    closed = await s.in_thread(_status_until, link, lambda st: not st.enclosure_open)
    if closed.enclosure_open:
        raise SelfTestError(
            "TAMPER_STILL_OPEN",
            "MCU masih melihat penutup terbuka: tutup rapat dan periksa sakelar tamper.",
            "The MCU still sees the enclosure open: close it firmly and check the tamper switch.",
        )
    if closed.tamper_latched:
        await _clear(s, link, closed)
    return "pass"


def _status_until(link: McuLink, wanted: Callable[[Any], bool], timeout: float = 3.0) -> Any:
    """The MCU's status once `wanted` (its inputs are debounced), or the last after `timeout`."""
    deadline = time.monotonic() + timeout
    status = link.request_status()
    while not wanted(status) and time.monotonic() < deadline:
        time.sleep(POLL_S)  # the switch's debounce on the MCU: a few tens of milliseconds
        status = link.request_status()
    return status


async def _clear(s: Session, link: McuLink, status: Any) -> None:
    """Clear the latch the test set, with a clear the fleet service computes (escrowed key)."""
    path = f"/provision/v1/devices/{s.device}/mcu-clear"
    body = {"counter": status.clear_counter + 1, "tamper_seq": status.tamper_seq}
    code, raw, _ = await s.fleet().request("POST", path, SelfTestError, body)
    if code != 200:
        from provisioning.fleet_client import refused

        raise refused(SelfTestError, "TAMPER_CLEAR_REFUSED", code, raw)
    import json

    await s.in_thread(link.send_clear, bytes.fromhex(json.loads(raw)["payload"]))
    after = await s.in_thread(link.request_status)
    if after.tamper_latched:
        raise SelfTestError(
            "TAMPER_LATCHED",
            "Kunci tamper MCU tidak terbuka setelah penghapusan: hubungi tim platform.",
            "The MCU's tamper latch stayed set after the clear: call the platform team.",
        )


async def _mcu(s: Session, link: McuLink) -> str:
    for _ in range(HEARTBEATS):
        await s.in_thread(link.send_heartbeat)
    if not await s.in_thread(link.wait_heartbeats_acked, HEARTBEATS, 5.0):
        raise SelfTestError(
            "MCU_HEARTBEAT",
            "MCU tidak menjawab detak jantung: periksa kabel UART, lalu ulangi.",
            "The MCU does not acknowledge heartbeats: check the UART cable, then run again.",
            retry=True,
        )
    status = await s.in_thread(link.request_status)
    if status.tamper_latched:
        raise SelfTestError(
            "TAMPER_LATCHED",
            "Kunci tamper MCU aktif: tutup penutup kios dan jalankan uji diri lagi.",
            "The MCU's tamper latch is set: close the enclosure and run the self-test again.",
        )
    return "pass"
