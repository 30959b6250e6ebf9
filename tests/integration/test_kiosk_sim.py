"""kiosk-sim as an operator runs it: the CLI in a subprocess, scripted through its control API."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.personas import PERSONAS
from tests.identity.key_files import kiosk_certificates
from tests.identity.key_files import kiosk_key_files as kiosk_key_files_in
from tests.privacy.scan import files_under, scan_bytes, scan_tree

pytestmark = pytest.mark.middleware

KIOSK_SIM = [sys.executable, "-c", "from kiosk_sim.cli import main; raise SystemExit(main())"]


def test_device_demo_prints_its_table_and_exits_0(tmp_path: Path) -> None:
    done = subprocess.run(
        [*KIOSK_SIM, "demo-devices", "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "7 of 7 scenarios as expected" in done.stdout
    assert "CardNotAuthenticError" in done.stdout
    # names and NIKs are masked
    assert "AYUNINGSIH" not in done.stdout
    assert "3304014508920003" not in done.stdout


SCENARIOS = {
    "found": "FOUND",
    "mismatch then match": "FOUND",
    "three mismatches": "FINGER_MISMATCH",
    "deceased": "FOUND_DECEASED",
    "duplicate": "FOUND_DUPLICATE",
    "not found": "NOT_FOUND",
    "inactive": "FOUND_INACTIVE",
    "invalid NIK format": "INVALID_NIK_FORMAT",
    "quota exhausted": "QUOTA_EXHAUSTED",
    "institution inactive": "INSTITUTION_INACTIVE",
    "user inactive": "USER_INACTIVE",
    "card pulled mid-session": "CANCELLED",
    "card not authentic": "CARD_NOT_AUTHENTIC",
    "gateway down": "SERVICE_UNAVAILABLE",
}


@pytest.mark.timeout(330)  # the demo's 47 scenarios take about 100 s alone (its own limit: 300 s)
def test_whole_stack_demo_every_scenario_and_nothing_personal_left(tmp_path: Path) -> None:
    run_dir, temp = tmp_path / "run", tmp_path / "tmp"
    temp.mkdir()
    done = subprocess.run(
        [*KIOSK_SIM, "demo", "--json", "--run-dir", str(run_dir)],
        capture_output=True,
        timeout=300,
        check=False,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    got = {r["scenario"]: r["got"] for r in rows}
    assert {k: got.get(k) for k in SCENARIOS} == SCENARIOS, done.stderr.decode()[-2000:]
    assert [r for r in rows if not r["ok"]] == []
    assert all(r["expected"] == r["got"] and r["seconds"] > 0 for r in rows)
    # the supervisor MCU and fleet scenarios
    assert got["agent hang"] == "power cycled, FOUND"
    assert {"deactivated mid-session", "deactivated while offline, applied on reconnect"} <= set(
        got
    )
    assert any(name.startswith("MCU tamper") for name in got)
    assert any(name.startswith("broker down then back") for name in got)
    # the identity scenarios: a renewal at 2/3 of a short life under a verification, and a
    # revoked kiosk refused at the gateway and the broker within 5 s (then enrolled again)
    renewed = [n for n in got if n.startswith("certificate of 24 s renewed by itself at ")]
    assert [got[n] for n in renewed] == ["renewed by itself, FOUND across the switch"]
    revoked = [n for n in got if n.startswith("revoked kiosk refused: gateway ")]
    assert [got[n] for n in revoked] == [
        "gateway and broker refuse it within 5 s, re-enrolled, FOUND"
    ]
    # data balikan: the happy path counts one more return at the gateway; the faults none
    assert got["data balikan"] == "FOUND, RETURNED (number shown), returns +1"
    assert got["return for a NIK not looked up"] == "refused NOT_LOOKED_UP, returns +0"
    assert "INSTITUTION_UNAVAILABLE" in got["institution service down"]
    assert "INSTITUTION_UNAVAILABLE" in got["institution answer malformed"]
    # the technician's day: provisioned from nothing, FOUND, decommissioned, then refused
    install = {k: v for k, v in got.items() if k.startswith("install: ")}
    assert install.get("install: verification") == "FOUND", (install, done.stderr[-2000:])
    assert install.get("install: kiosk refused") == "refused", install
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    # Every file the run wrote: agent and gateway logs, SQLite, PKI, pcscd, mosquitto's
    # persistence and log, every MQTT message seen on kiosk/#, MCU flash, temp files.
    assert (run_dir / "agent" / "agent.log").stat().st_size > 0
    assert (run_dir / "gateway" / "log" / "access.log").stat().st_size > 0
    messages = (run_dir / "mqtt-messages.log").read_text()
    assert len(messages) > 1000
    assert '"mcu":{"link_up":true' in messages.replace(" ", "")  # health carries the MCU
    assert list((run_dir / "broker").rglob("*.db"))
    # the institution simulator's register and log are scanned too
    institution = run_dir / "institution"
    assert "PERPUS-SIM-" in (institution / "members.txt").read_text()
    assert "member number PERPUS-SIM-" in (institution / "institution.log").read_text()
    written = files_under([run_dir, temp])
    assert len(written) > 10
    needles = {f"{p.key}.nik": p.nik for p in PERSONAS.values()}
    needles |= {f"{p.key}.name": p.full_name for p in PERSONAS.values()}
    assert scan_tree([run_dir, temp], needles) == []
    assert scan_bytes(done.stdout + done.stderr, needles) == []
    assert kiosk_key_files(run_dir, temp) == []


def kiosk_key_files(*folders: Path) -> list[Path]:
    """Files anywhere in the run that hold a kiosk's private key (its keys live in SoftHSM).

    Every PEM private key written in the run is compared with every kiosk certificate there
    (tests/identity/key_files.py); the kiosk's own folder may hold no private key at all.
    """
    uri = folders[0] / "agent" / "state" / "identity" / "device.key"
    if uri.exists():  # the demo ends with the install scenario's decommission, which wipes it
        assert b"PKCS#11 PROVIDER URI" in uri.read_bytes()
    kiosks = kiosk_certificates(folders)
    assert kiosks  # the kiosk's own certificate at least
    agent = files_under([folders[0] / "agent"])
    agent = [p for p in agent if p.is_file() and b"PRIVATE KEY-----" in p.read_bytes()]
    return agent + kiosk_key_files_in(folders, kiosks)


_readers: dict[int, queue.Queue[str]] = {}


def _read_line_matching(proc: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    """Wait for a line of the process's stdout that matches (a reader thread per process)."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines = _readers.get(proc.pid)
    if lines is None:
        lines = _readers[proc.pid] = queue.Queue()
        sink = lines
        threading.Thread(target=lambda: [sink.put(line) for line in stdout], daemon=True).start()
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if m := re.search(pattern, line):
            return m
    raise AssertionError(f"kiosk-sim never printed {pattern!r}")


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("kiosk-sim")
    proc = subprocess.Popen(
        [*KIOSK_SIM, "devices", "--control-port", "0", "--run-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        m = _read_line_matching(proc, r"control API:\s+(http://127\.0\.0\.1:\d+)/status", 30)
        yield m.group(1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) in (0, 130)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _call(base: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_control_api_scripts_the_devices(control: str) -> None:
    status, body = _call(control, "GET", "/status")
    assert status == 200
    assert body["card"] is None and body["sam"] is True and body["enclosure_open"] is False
    assert body["paths"]["fingerprint_port"].startswith("/dev/pts/")

    status, body = _call(control, "POST", "/card", {"persona": "ayu", "fault": "cloned"})
    assert (status, body["card"]) == (200, "ayu (cloned)")
    status, body = _call(control, "DELETE", "/card")
    assert (status, body["card"]) == (200, None)

    status, body = _call(control, "POST", "/finger", {"persona": "bagas", "finger": "left_index"})
    assert status == 200
    status, body = _call(control, "POST", "/enclosure", {"open": True})
    assert (status, body["enclosure_open"]) == (200, True)
    status, body = _call(control, "POST", "/sam", {"present": False})
    assert (status, body["sam"]) == (200, False)


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/card", {"persona": "nobody"}, "unknown persona 'nobody'; known: ayu"),
        ("POST", "/card", {"persona": "ayu", "fault": "melted"}, "bad card fault"),
        ("POST", "/card", {}, "missing field 'persona'"),
        ("POST", "/finger", {"persona": "ayu", "finger": "thumb"}, "unknown finger 'thumb'"),
        ("POST", "/enclosure", {"open": "yes"}, "field 'open' must be a bool"),
        ("POST", "/card", [1, 2], "body must be a JSON object"),
    ],
)
def test_control_api_bad_requests(
    control: str, method: str, path: str, body: Any, message: str
) -> None:
    status, answer = _call(control, method, path, body)
    assert status == 400
    assert message in answer["error"]


def test_up_serves_the_kiosk_page_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*KIOSK_SIM, "up", "--control-port", "0", "--run-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        page = _read_line_matching(proc, r"kiosk page .*(http://127\.0\.0\.1:\d+/)", 60).group(1)
        control = _read_line_matching(proc, r"control API:\s+(http://127\.0\.0\.1:\d+)/", 10)
        with urllib.request.urlopen(page, timeout=10) as resp:
            assert resp.status == 200
            assert b"<html" in resp.read().lower()
        status, body = _call(control.group(1), "POST", "/mcu", {"light_covered": True})
        assert status == 200
        status, body = _call(control.group(1), "POST", "/mcu", {"heartbeat_cut": "no"})
        assert (status, body["error"]) == (400, "field 'heartbeat_cut' must be a bool")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
