"""The kiosk fleet's mosquitto configuration, one source for the simulation and for deployment.

`kiosk_sim/broker.py` writes it with the paths of a run directory; `deploy/mosquitto/` holds it
rendered with the paths of a deployed broker. Write those files again after a change with
`python -m kiosk_sim.mosquitto_config deploy/mosquitto` (a test checks that they match).

Two TLS listeners, each with its own CA and ACL (`per_listener_settings true`), TLS 1.3 only
(its cipher suites are all AEAD). The certificate's CN is the username.

- kiosks: per subtopic of its own tree. It writes `state`, `health`, `usage`, `reported` and
  `cmd/<id>/ack`; it reads `desired` and `cmd/<id>`, and its own `state` (a stale Last Will
  retained there makes it publish its birth again). It cannot write `desired` (nor erase the
  retained one) or a command, and it reaches no other kiosk's topic.
- admins: read `state`, `health`, `usage`, `reported`, `cmd/<id>/ack` of every kiosk, read and
  write `desired`, write `cmd/<id>`, and `fleet/v1/<its name>/#` for itself.
- the fleet service (its own certificate from the admin CA, CN `fleet-service`, on the admin
  listener): reads what it stores (`state`, `health`, `usage`, `reported`, `cmd/<id>/ack`, through
  `$share/<group>/...`) and the retained `desired`; it writes nothing under kiosk/v1. mosquitto
  2.0's acl_file grants every SUBSCRIBE and checks `read` on each message's own topic when it
  delivers it, shared subscription or not: so the rules name the plain topics.
- read-only admins (`kiosk-fleet status` without a signing key): read the same, `desired`
  included, write nothing of the kiosks' (only `fleet/v1/<its name>/#`, for the status sync).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from protocol.mqtt import PREFIX, Channel, fleet_filter

TLS_VERSION = "tlsv1.3"
# QoS 1 messages queued per session while its client is away (default 1000): room for a fleet
# service replica's share of a province (10,000 kiosks, ~170 messages/s) for about 20 minutes
MAX_QUEUED = 200_000
DEPLOY_ADMINS = ("dukcapil-admin-1",)
DEPLOY_SERVICES = ("fleet-service",)
DEPLOY_READERS = ("dukcapil-viewer-1",)
DEPLOY_CONF = "kiosk-fleet.conf"
KIOSK_ACL = "acl-kiosks"
ADMIN_ACL = "acl-admins"

_OWN = f"{PREFIX}/%u"
# (access, topic) of a kiosk; %u is its username, the certificate's CN
KIOSK_RULES: tuple[tuple[str, str], ...] = (
    ("readwrite", f"{_OWN}/{Channel.STATE.value}"),
    ("write", f"{_OWN}/{Channel.HEALTH.value}"),
    ("write", f"{_OWN}/{Channel.USAGE.value}"),
    ("write", f"{_OWN}/{Channel.REPORTED.value}"),
    ("write", f"{_OWN}/cmd/+/ack"),
    ("read", f"{_OWN}/{Channel.DESIRED.value}"),
    ("read", f"{_OWN}/cmd/+"),
)
# (access, topic) of every admin
ADMIN_RULES: tuple[tuple[str, str], ...] = (
    ("read", fleet_filter(Channel.STATE)),
    ("read", fleet_filter(Channel.HEALTH)),
    ("read", fleet_filter(Channel.USAGE)),
    ("read", fleet_filter(Channel.REPORTED)),
    ("readwrite", fleet_filter(Channel.DESIRED)),
    ("write", fleet_filter(Channel.CMD)),
    ("read", fleet_filter(Channel.ACK)),
)
# (access, topic) of read-only admins and of the fleet service: read what admins read, write
# nothing of the kiosks'
READER_RULES: tuple[tuple[str, str], ...] = tuple(
    ("read", pattern) for _, pattern in ADMIN_RULES if pattern != fleet_filter(Channel.CMD)
)


@dataclass(frozen=True, slots=True)
class Listener:
    """One TLS listener: where it listens and its files."""

    port: int
    certfile: Path
    keyfile: Path
    cafile: Path
    acl_file: Path
    crlfile: Path | None = None
    bind: str | None = None  # every address when None


def kiosk_acl() -> str:
    """The ACL of the kiosk listener."""
    lines = [
        "# kiosks (username = certificate CN): their own subtopics only, each one way",
        "# state is also read: a stale Last Will retained there makes the kiosk publish its birth",
    ]
    lines += [f"pattern {access} {pattern}" for access, pattern in KIOSK_RULES]
    return "\n".join(lines) + "\n"


def admin_acl(
    admins: Sequence[str], readers: Sequence[str] = (), services: Sequence[str] = ()
) -> str:
    """The ACL of the admin listener: admins, read-only admins, fleet-service certificates."""
    lines = ["# Dukcapil admins (admin CA only on this listener)"]
    for name in admins:
        lines.append(f"user {name}")
        lines += [f"topic {access} {pattern}" for access, pattern in ADMIN_RULES]
    for name in readers:
        lines.append(f"user {name}")
        lines += [f"topic {access} {pattern}" for access, pattern in READER_RULES]
    if services:
        lines += [
            "# the fleet service: reads through $share/<group>/...; mosquitto checks `read` on",
            "# each delivered message's own topic, so the plain topics are named here",
        ]
    for name in services:
        lines.append(f"user {name}")
        lines += [f"topic {access} {pattern}" for access, pattern in READER_RULES]
    lines.append("pattern readwrite fleet/v1/%u/#")
    return "\n".join(lines) + "\n"


def _listener(listener: Listener, comment: str, *, kiosks: bool) -> list[str]:
    where = f" {listener.bind}" if listener.bind else ""
    lines = [
        comment,
        f"listener {listener.port}{where}",
        "protocol mqtt",
        f"certfile {listener.certfile}",
        f"keyfile {listener.keyfile}",
        f"cafile {listener.cafile}",
    ]
    if listener.crlfile is not None:
        lines.append(f"crlfile {listener.crlfile}")
    lines += ["require_certificate true", "use_identity_as_username true"]
    if kiosks:
        lines.append("use_username_as_clientid true")
    lines += [f"tls_version {TLS_VERSION}", "allow_anonymous false"]
    lines.append(f"acl_file {listener.acl_file}")
    return lines


def render_config(
    kiosks: Listener,
    admins: Listener,
    *,
    header: Sequence[str] = (),
    autosave_interval: int = 60,
    extra: Sequence[str] = (),
) -> str:
    """mosquitto.conf: the common settings, `extra` lines, then the two listeners."""
    lines = [
        *header,
        "per_listener_settings true",
        "persistence true",
        f"autosave_interval {autosave_interval}",
        "max_packet_size 65536",
        "max_keepalive 300",
        "persistent_client_expiration 2d",
        f"max_queued_messages {MAX_QUEUED}",
        *extra,
        "",
        *_listener(
            kiosks,
            "# kiosks: device CA only; the client id is forced to the CN (no session takeover)",
            kiosks=True,
        ),
        "",
        *_listener(admins, "# Dukcapil admins: admin CA only", kiosks=False),
    ]
    return "\n".join(lines) + "\n"


def deploy_files(
    admins: Sequence[str] = DEPLOY_ADMINS,
    readers: Sequence[str] = DEPLOY_READERS,
    services: Sequence[str] = DEPLOY_SERVICES,
) -> dict[str, str]:
    """The files of deploy/mosquitto/ by name: the configuration and the two ACLs."""
    etc = Path("/etc/mosquitto")
    certs = etc / "certs"
    kiosks = Listener(
        8883,
        certs / "broker.pem",
        certs / "broker.key",
        etc / "ca" / "device-ca.pem",
        etc / KIOSK_ACL,
        crlfile=etc / "ca" / "device-crl.pem",
    )
    admin = Listener(
        8884,
        certs / "broker.pem",
        certs / "broker.key",
        etc / "ca" / "admin-ca.pem",
        etc / ADMIN_ACL,
    )
    header = (
        "# mosquitto for the kiosk fleet (docs/fleet.md): put in /etc/mosquitto/conf.d/.",
        "# Written by `python -m kiosk_sim.mosquitto_config deploy/mosquitto`: change it there.",
        "# Two TLS 1.3 listeners, each with its own CA and ACL; the certificate CN is the user.",
    )
    return {
        DEPLOY_CONF: render_config(kiosks, admin, header=header),
        KIOSK_ACL: kiosk_acl(),
        ADMIN_ACL: admin_acl(admins, readers, services),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write the deployment files into a folder (deploy/mosquitto)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to write them (deploy/mosquitto)")
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    for name, text in deploy_files().items():
        (args.folder / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
