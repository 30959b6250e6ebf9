"""`kiosk-fleet evidence` on the simulated stack: the [evidence] section of the run's fleet.toml
(a probe device, the personas as canaries, the PKS of the simulated library) and the demo's
evidence scenario."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from kiosk_sim.device_token import device_env
from kiosk_sim.stack import ELEMENTS, INSTITUTION, Stack
from simulators.personas import PERSONAS

PROBE_ID = "EVIDENCE-PROBE-0001"
MARK = "\n# --- kiosk_sim.evidence ---\n"
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def canaries_path(stack: Stack) -> Path:
    """The personas' data as canaries (synthetic; the scan skips this one file)."""
    return stack.run_dir / "fleet" / "evidence-canaries.toml"


def write_canaries(stack: Stack) -> Path:
    """The canaries file: each persona's NIK and name."""
    lines = []
    for p in PERSONAS.values():
        lines.append(f"{json.dumps(p.key + '.nik')} = {json.dumps(p.nik)}")
        lines.append(f"{json.dumps(p.key + '.name')} = {json.dumps(p.full_name)}")
    path = canaries_path(stack)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def evidence_section(stack: Stack, *, semester: str | None = None) -> str:
    """The [evidence] section for this stack (a probe device certificate is issued)."""
    assert stack.pki is not None and stack.broker is not None and stack.fleet is not None
    probe = stack.pki.issue_device(PROBE_ID, INSTITUTION)
    run = stack.run_dir
    reports = run / "fleet" / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    today = dt.datetime.fromtimestamp(time.time(), dt.UTC).date()
    first = semester or f"{today.year}-{1 if today.month <= 6 else 2}"
    scan = [run / "gateway", run / "broker", run / "fleet", run / "agent", run / "institution"]
    units = [DEPLOY / "kiosk-agent.service", DEPLOY / "kiosk-fleet.service"]

    def paths(items: list[Path]) -> str:
        return json.dumps([str(p) for p in items])

    return f"""{MARK}
[evidence]
addresses = ["127.0.0.1"]
endpoints = ["{stack.broker.host}:{stack.broker.port}"]
processes = [{json.dumps(str(run / "agent" / "agent.toml"))}]
scan = {paths(scan)}
canaries = {json.dumps(str(canaries_path(stack)))}
reports = {json.dumps(str(reports))}
units = {paths([u for u in units if u.is_file()])}

[evidence.clauses]
storage = "PKS simulasi: kewajiban menjaga kerahasiaan data"

[evidence.probe]
cert_file = {json.dumps(str(probe.cert))}
key_file = {json.dumps(str(probe.key))}

[evidence.pks.{INSTITUTION}]
elements = {json.dumps(ELEMENTS)}
poc_approved = false
first_semester = "{first}"
"""


def configure_evidence(stack: Stack) -> Path:
    """Add [evidence] to the run's fleet.toml (once) and write the canaries; fleet.toml."""
    assert stack.fleet is not None
    config = stack.fleet.fleet_config
    text = config.read_text()
    if MARK not in text:
        config.write_text(text + evidence_section(stack))
    write_canaries(stack)
    return config


EXPECTED = "every duty PASS or SKIP but data balikan (behind by the faults above)"


async def evidence_scenario(stack: Stack) -> tuple[str, str, str, float]:
    """The demo's last row: `kiosk-fleet evidence` on the stack after every scenario; (name,
    expected, got, seconds). The faulty institution scenarios leave FOUNDs without a return,
    so data balikan may be behind; every other duty must hold."""
    assert stack.fleet is not None
    started = time.perf_counter()
    configure_evidence(stack)
    try:
        if stack.gateway is not None:
            await stack.gateway.usage.flush()  # the counts of the last visits
        code, out = await stack.fleet.fleet("evidence", "--json", env=device_env())
    finally:
        canaries_path(stack).unlink(missing_ok=True)  # the privacy scan after the demo
    try:
        report = json.loads(out[out.index("{") :])
        failing = {d["duty"]: d["detail"] for d in report["duties"] if d["status"] == "FAIL"}
    except (ValueError, KeyError, TypeError):
        return "PoC evidence", EXPECTED, f"error: exit {code}: {out[-200:]}", 0.0
    wrong = [f"{duty} ({detail[:160]})" for duty, detail in failing.items() if duty != "balikan"]
    got = EXPECTED if not wrong else "FAIL: " + "; ".join(wrong)
    return "PoC evidence", EXPECTED, got, time.perf_counter() - started
