"""The topic tree of the kiosk fleet: every kiosk lives under `kiosk/v1/<device id>/`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from protocol.errors import ProtocolError

PREFIX = "kiosk/v1"
_IDENT = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
_NONCE = re.compile(r"^[0-9a-f]{32}\Z")


class TopicError(ProtocolError, ValueError):
    """A topic outside the fleet's tree or of an unknown shape."""


class Channel(Enum):
    """The kinds of topics under a device."""

    STATE = "state"
    HEALTH = "health"
    USAGE = "usage"
    DESIRED = "desired"
    REPORTED = "reported"
    CMD = "cmd"
    ACK = "ack"


@dataclass(frozen=True, slots=True)
class TopicRef:
    """A parsed topic: which device, which channel, and the command id of cmd/ack topics."""

    device: str
    channel: Channel
    command_id: str | None = None


def is_device_id(text: str) -> bool:
    """True if `text` may be a device id (and so a topic level)."""
    return bool(_IDENT.match(text))


def _check_device(device: str) -> str:
    if not is_device_id(device):
        raise TopicError("not a device id")
    return device


def topic(device: str, channel: Channel) -> str:
    """The topic of one of a device's channels (not cmd/ack: see command_topic, ack_topic)."""
    if channel in (Channel.CMD, Channel.ACK):
        raise TopicError("command topics carry an id: use command_topic or ack_topic")
    return f"{PREFIX}/{_check_device(device)}/{channel.value}"


def command_topic(device: str, command_id: str) -> str:
    """`kiosk/v1/<device>/cmd/<id>`: where a signed command is published (id = its nonce)."""
    if not _NONCE.match(command_id):
        raise TopicError("a command id is 32 lowercase hex digits")
    return f"{PREFIX}/{_check_device(device)}/cmd/{command_id}"


def ack_topic(device: str, command_id: str) -> str:
    """`kiosk/v1/<device>/cmd/<id>/ack`: the kiosk's answer to a command."""
    return command_topic(device, command_id) + "/ack"


def command_filter(device: str) -> str:
    """Every command of one device: `kiosk/v1/<device>/cmd/+`."""
    return f"{PREFIX}/{_check_device(device)}/cmd/+"


def device_filter(device: str) -> str:
    """Every topic of one device."""
    return f"{PREFIX}/{_check_device(device)}/#"


def fleet_filter(channel: Channel) -> str:
    """One channel of every device (state, health, usage, desired, reported)."""
    if channel is Channel.CMD:
        return f"{PREFIX}/+/cmd/+"
    if channel is Channel.ACK:
        return f"{PREFIX}/+/cmd/+/ack"
    return f"{PREFIX}/+/{channel.value}"


FLEET_ALL = f"{PREFIX}/#"


def parse_topic(text: str) -> TopicRef:
    """The device, channel and command id of a topic under kiosk/v1; TopicError otherwise."""
    parts = text.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != PREFIX or not is_device_id(parts[2]):
        raise TopicError("not a kiosk topic")
    device, rest = parts[2], parts[3:]
    if len(rest) == 1 and rest[0] in {"state", "health", "usage", "desired", "reported"}:
        return TopicRef(device, Channel(rest[0]))
    if rest[0] == "cmd" and len(rest) in (2, 3) and _NONCE.match(rest[1]):
        if len(rest) == 2:
            return TopicRef(device, Channel.CMD, rest[1])
        if rest[2] == "ack":
            return TopicRef(device, Channel.ACK, rest[1])
    raise TopicError("unknown kiosk topic")
