"""MQTT topics of the kiosk fleet and their JSON payloads, with strict parsers (pure, no I/O).

One module per payload (`state`, `health`, `usage`, `reported`, `acks`), the topic tree in
`topics`, what payloads share in `payload`; everything is imported from here.

Every kiosk lives under `kiosk/v1/<device id>/`; the broker's ACL confines it there:

| topic | from | retained | QoS | payload |
|---|---|---|---|---|
| `state` | kiosk (online/offline), broker (Last Will: lost) | yes | 1 | StateMessage |
| `health` | kiosk, periodic and on change | yes | 0 | HealthMessage |
| `usage` | kiosk, from its outbox | no | 1 | UsageMessage |
| `desired` | admin | yes | 1 | signed DesiredState (protocol.signed) |
| `reported` | kiosk | yes | 1 | ReportedMessage |
| `cmd/<nonce>` | admin | no | 1 | signed Command (protocol.signed) |
| `cmd/<nonce>/ack` | kiosk | no | 1 | AckMessage |

Payloads are compact JSON objects with a schema version `v`; parsers (protocol.strict) refuse
unknown fields and wrong types with PayloadError naming the field. No payload carries personal
data: counts, states, identifiers of devices, and times.
"""

from protocol.mqtt.acks import (
    AckMessage,
    AckStatus,
    parse_ack,
)
from protocol.mqtt.health import (
    DeviceStatus,
    HealthMessage,
    parse_health,
)
from protocol.mqtt.payload import (
    MAX_PAYLOAD_BYTES,
    SCHEMA_VERSION,
    PayloadError,
    decode,
    encode,
)
from protocol.mqtt.reported import (
    RejectedDocument,
    ReportedMessage,
    parse_reported,
)
from protocol.mqtt.state import (
    Presence,
    StateMessage,
    parse_state,
)
from protocol.mqtt.topics import (
    FLEET_ALL,
    PREFIX,
    Channel,
    TopicError,
    TopicRef,
    ack_topic,
    command_filter,
    command_topic,
    device_filter,
    fleet_filter,
    is_device_id,
    parse_topic,
    topic,
)
from protocol.mqtt.usage import (
    UsageMessage,
    parse_usage,
)

__all__ = [
    "FLEET_ALL",
    "MAX_PAYLOAD_BYTES",
    "PREFIX",
    "SCHEMA_VERSION",
    "AckMessage",
    "AckStatus",
    "Channel",
    "DeviceStatus",
    "HealthMessage",
    "PayloadError",
    "Presence",
    "RejectedDocument",
    "ReportedMessage",
    "StateMessage",
    "TopicError",
    "TopicRef",
    "UsageMessage",
    "ack_topic",
    "command_filter",
    "command_topic",
    "decode",
    "device_filter",
    "encode",
    "fleet_filter",
    "is_device_id",
    "parse_ack",
    "parse_health",
    "parse_reported",
    "parse_state",
    "parse_topic",
    "parse_usage",
    "topic",
]
