"""The device CA's commands: `ca init|crl|broker-acl`, `technician add`, `admin add`, `revoke`,
`decommission`, `enrol-token`.

    kiosk-fleet ca init                       # make the CA keys ([ca.token] or files) and certs
    kiosk-fleet ca crl                        # publish the CRLs now (files, broker, gateway)
    kiosk-fleet ca broker-acl PATH [--service NAME]   # the broker's admin ACL, from the roles
    kiosk-fleet technician add NAME --out DIR (--passphrase-file F | --token-module M
                --token-label L --pin-file P)
    kiosk-fleet admin add NAME [--read-only] --out DIR (...as technician)
    kiosk-fleet revoke DEVICE [--reason R] | revoke --person NAME
    kiosk-fleet decommission DEVICE
    kiosk-fleet enrol-token SERIAL --institution ID --url URL --cert F --key F --ca F
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

from common.roles import Role
from common.tls import client_context
from fleet.ca.issuer import hex_serial
from fleet.ca.people import add_person, init_ca, people, revoke_person
from fleet.ca.publish import publish
from fleet.ca.revocation import REASONS, current_crls, revoke_and_publish
from fleet.ca.server import open_ca
from fleet.ca.settings import TokenSettings
from fleet.commands.context import Context, add_json, iso
from fleet.errors import EXIT_FAILED, EXIT_USAGE, FleetError
from fleet.store.base import DeviceState
from kiosk_sim.mosquitto_config import admin_acl


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """ca, technician, admin, revoke, decommission, enrol-token."""
    c = sub.add_parser("ca", help="the device CA ([ca] of fleet.toml)")
    verbs = c.add_subparsers(dest="verb", required=True)
    i = verbs.add_parser("init", help="make the CA keys and certificates (once)")
    i.set_defaults(func=run_init)
    crl = verbs.add_parser("crl", help="publish the CRLs now")
    crl.set_defaults(func=run_crl)
    acl = verbs.add_parser("broker-acl", help="write the broker's admin ACL from the roles")
    acl.add_argument("path", type=Path)
    acl.add_argument("--service", action="append", default=None, help="fleet-service CNs")
    acl.set_defaults(func=run_acl)
    for p in (i, crl, acl):
        add_json(p)

    for role_name in ("technician", "admin"):
        g = sub.add_parser(role_name, help=f"{role_name} certificates (admin CA)")
        gv = g.add_subparsers(dest="verb", required=True)
        a = gv.add_parser("add", help=f"issue a {role_name} certificate with a new key")
        a.add_argument("name")
        if role_name == "admin":
            a.add_argument("--read-only", action="store_true", help="may only read")
        a.add_argument("--out", type=Path, required=True, help="where the files go")
        a.add_argument("--passphrase-file", type=Path, help="encrypts the key file (PKCS#8)")
        a.add_argument("--token-module", type=Path, help="the person's PKCS#11 module")
        a.add_argument("--token-label", help="the person's token")
        a.add_argument("--pin-file", type=Path, help="the person's token PIN file")
        a.set_defaults(func=run_person, role_name=role_name)
        add_json(a)

    r = sub.add_parser("revoke", help="revoke a kiosk's (or a person's) certificates")
    r.add_argument("device", nargs="?")
    r.add_argument("--person", help="a technician's or admin's name instead")
    r.add_argument("--reason", choices=REASONS, default="key_compromise")
    r.set_defaults(func=run_revoke)
    d = sub.add_parser("decommission", help="retire a kiosk: registry state and certificates")
    d.add_argument("device")
    d.set_defaults(func=run_decommission)
    t = sub.add_parser("enrol-token", help="a single-use enrolment token (technician)")
    t.add_argument("serial", help="the kiosk's hardware serial")
    t.add_argument("--institution", required=True)
    t.add_argument("--url", required=True, help="the fleet service's EST address (https://...)")
    t.add_argument("--cert", type=Path, required=True, help="the technician's certificate")
    t.add_argument("--key", type=Path, required=True, help="its key (or token URI PEM)")
    t.add_argument("--ca", type=Path, required=True, help="the CA of the service's certificate")
    t.set_defaults(func=run_token)
    for p in (r, d, t):
        add_json(p)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_init(ctx: Context) -> int:
    """Make the CAs."""
    if ctx.config.ca is None:
        raise FleetError(f"{ctx.config.source} has no [ca] section", EXIT_USAGE)
    made = init_ca(ctx.config.ca, now=_now())
    ctx.emit({"certificates": [str(p) for p in made]}, "\n".join(f"made {p}" for p in made))
    return 0


def run_crl(ctx: Context) -> int:
    """Publish the current CRLs."""
    ca = open_ca(ctx.config)
    try:
        device, admin = current_crls(ctx.store, ca)
    finally:
        ca.close()
    out = publish(ctx.config, device, admin)
    ctx.emit({"done": out.done, "failed": out.failed}, _published(out.done, out.failed))
    return EXIT_FAILED if out.failed else 0


def _published(done: list[str], failed: list[str]) -> str:
    lines = [f"  done: {d}" for d in done] + [f"  FAILED: {f}" for f in failed]
    return "CRL published:\n" + "\n".join(lines)


def run_acl(ctx: Context) -> int:
    """The admin listener's ACL: admins read and write, read-only admins read, technicians
    nothing of the kiosks'."""
    roles = people(ctx.store, int(time.time()))
    services = ctx.args.service or ["fleet-service"]
    text = admin_acl(roles[Role.ADMIN], roles[Role.READ_ONLY_ADMIN], services)
    ctx.args.path.write_text(text)
    ctx.emit(
        {r.value: names for r, names in roles.items()},
        f"wrote {ctx.args.path}: send mosquitto a SIGHUP to read it",
    )
    return 0


def run_person(ctx: Context) -> int:
    """technician add / admin add."""
    a = ctx.args
    role = Role.TECHNICIAN if a.role_name == "technician" else Role.ADMIN
    if getattr(a, "read_only", False):
        role = Role.READ_ONLY_ADMIN
    token = None
    given = (a.token_module, a.token_label, a.pin_file)
    if any(given):
        if not all(given):
            raise FleetError(
                "give --token-module, --token-label and --pin-file together", EXIT_USAGE
            )
        token = TokenSettings(a.token_module, a.token_label, a.pin_file)
    ca = open_ca(ctx.config)
    try:
        if ca.admin is None:
            raise FleetError(
                f"{ctx.config.source}: [ca] needs admin_cert_file and an admin key to issue"
                " people's certificates",
                EXIT_USAGE,
            )
        assert ctx.config.ca is not None
        files = add_person(
            ctx.store,
            ca.admin,
            a.name,
            role,
            a.out,
            days=ctx.config.ca.person_days,
            now=_now(),
            passphrase_file=a.passphrase_file,
            token=token,
        )
    finally:
        ca.close()
    ctx.ops.audit("issue_certificate", a.name, "done", role=role.value, serial=files.serial)
    ctx.emit(
        {
            "name": files.name,
            "role": files.role.value,
            "cert": str(files.cert),
            "key": str(files.key),
            "serial": files.serial,
            "not_after": files.not_after,
        },
        f"{files.name} ({files.role.value}): {files.cert}, key {files.key},"
        f" valid until {iso(files.not_after)}",
    )
    return 0


def run_revoke(ctx: Context) -> int:
    """Revoke a kiosk's or a person's certificates and publish the CRLs."""
    a = ctx.args
    if (a.device is None) == (a.person is None):
        raise FleetError("give a DEVICE or --person NAME", EXIT_USAGE)
    if a.person is not None:
        serials = revoke_person(ctx.store, a.person, int(time.time()))
        out = None
        if serials:
            ca = open_ca(ctx.config)
            try:
                device, admin = current_crls(ctx.store, ca)
            finally:
                ca.close()
            out = publish(ctx.config, device, admin)
        target = a.person
    else:
        serials, out = revoke_and_publish(ctx.config, ctx.store, [a.device], a.reason)
        target = a.device
    outcome = "done" if serials else "nothing"
    ctx.ops.audit("revoke_certificate", target, outcome, reason=a.reason, count=len(serials))
    if not serials:
        ctx.emit({"target": target, "revoked": []}, f"{target}: no live certificate to revoke")
        return 0
    done, failed = (out.done, out.failed) if out is not None else ([], [])
    ctx.emit(
        {"target": target, "revoked": serials, "done": done, "failed": failed},
        f"{target}: revoked {', '.join(serials)}\n" + _published(done, failed),
    )
    return EXIT_FAILED if failed else 0


def run_decommission(ctx: Context) -> int:
    """A kiosk leaves service: registry state decommissioned, certificates revoked."""
    device = ctx.args.device
    ctx.ops.require_known([device], force=False, action="decommission")
    ctx.store.set_device_state(device, DeviceState.DECOMMISSIONED)
    serials: list[str] = []
    failed: list[str] = []
    if ctx.config.ca is not None:
        serials, out = revoke_and_publish(ctx.config, ctx.store, [device], "decommission")
        failed = out.failed if out is not None else []
    ctx.ops.audit("decommission", device, "done", count=len(serials))
    ctx.emit(
        {"device": device, "revoked": serials, "failed": failed},
        f"{device}: decommissioned; certificates revoked: {', '.join(serials) or 'none'}"
        + ("".join(f"\n  FAILED: {f}" for f in failed)),
    )
    return EXIT_FAILED if failed else 0


def run_token(ctx: Context) -> int:
    """Ask the fleet service for an enrolment token with a technician's certificate."""
    a = ctx.args
    parts = urlsplit(a.url)
    if parts.scheme != "https" or not parts.hostname:
        raise FleetError("--url must be https://HOST:PORT of the fleet service's EST", EXIT_USAGE)
    tls = client_context(a.ca, a.cert, a.key)
    conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, context=tls, timeout=10)
    body = json.dumps({"serial": a.serial, "institution": a.institution})
    try:
        conn.request("POST", "/enrol/v1/tokens", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read(64 * 1024)
    except (OSError, http.client.HTTPException) as err:
        raise FleetError(f"cannot reach the fleet service at {a.url}: {err}") from err
    finally:
        conn.close()
    if resp.status != 201:
        text = raw.decode("utf-8", "replace").strip()[:300]
        raise FleetError(f"the fleet service refused (HTTP {resp.status}): {text}")
    doc = json.loads(raw)
    ctx.emit(
        doc,
        f"enrolment token for {doc['device']} (serial {doc['serial']}), once, until"
        f" {iso(doc['expires_at'])}:\n{doc['token']}",
    )
    return 0


__all__ = ["add_parsers", "hex_serial"]
