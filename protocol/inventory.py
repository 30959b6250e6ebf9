"""The hardware inventory of a kiosk: what the technician's tool reads from the devices and the
fleet service stores (`PUT /provision/v1/devices/{id}/hardware`). Pure: no I/O, no personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from protocol.strict import Reader

_IDENT = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
_NAME = re.compile(r"^[\x20-\x7e]{1,128}\Z")  # a PC/SC reader name: printable ASCII
_PARAM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}\Z")
_NOT_IDENT = re.compile(r"[^A-Za-z0-9._:-]+")
MAX_PARAMS = 16


@dataclass(frozen=True, slots=True)
class Inventory:
    """What is installed, as read from the devices; no personal data."""

    reader_name: str
    reader_serial: str | None
    sam_serial: str
    sam_activated: bool
    sensor_serial: str
    sensor_params: dict[str, int | str] = field(default_factory=dict)
    mcu_id: str | None = None  # None: no supervisor MCU configured

    @property
    def reader_id(self) -> str:
        """The reader's id pinned at the gateway: its serial, else its name made an id."""
        if self.reader_serial:
            return self.reader_serial
        return _NOT_IDENT.sub("-", self.reader_name).strip("-")[:64] or "reader"

    @property
    def sam_id(self) -> str:
        """The SAM's id pinned at the gateway: its serial."""
        return self.sam_serial

    def bindings(self) -> dict[str, str]:
        """Serials by part (reader, sam, sensor, mcu), as the fleet registry keeps them."""
        out = {"reader": self.reader_id, "sam": self.sam_id, "sensor": self.sensor_serial}
        if self.mcu_id is not None:
            out["mcu"] = self.mcu_id
        return out

    def as_json(self) -> dict[str, Any]:
        """The inventory as a JSON object (the fleet route's body, the handover record)."""
        return {
            "reader_name": self.reader_name,
            "reader_serial": self.reader_serial,
            "sam_serial": self.sam_serial,
            "sam_activated": self.sam_activated,
            "sensor_serial": self.sensor_serial,
            "sensor_params": dict(sorted(self.sensor_params.items())),
            "mcu_id": self.mcu_id,
        }

    @classmethod
    def from_json(cls, doc: object) -> Inventory:
        """Read `as_json()`'s object back (protocol.strict.StrictError for anything else)."""
        r = Reader(doc, "inventory")
        serial = r.raw("reader_serial", None)
        mcu = r.raw("mcu_id", None)
        params_r = r.nested("sensor_params", {})
        params: dict[str, int | str] = {}
        names = params_r.names()
        if len(names) > MAX_PARAMS:
            raise params_r.error("sensor_params", f"more than {MAX_PARAMS} parameters")
        for name in names:
            if not _PARAM_KEY.match(name):
                raise r.error("sensor_params", "a parameter name must be lower_snake_case")
            value = params_r.raw(name)
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise params_r.error(name, "must be an integer or a string")
            if isinstance(value, str) and not _IDENT.match(value):
                raise params_r.error(name, f"must match {_IDENT.pattern}")
            params[name] = value
        inv = cls(
            reader_name=r.text("reader_name", pattern=_NAME),
            reader_serial=None if serial is None else r.text("reader_serial", pattern=_IDENT),
            sam_serial=r.text("sam_serial", pattern=_IDENT),
            sam_activated=r.boolean("sam_activated"),
            sensor_serial=r.text("sensor_serial", pattern=_IDENT),
            sensor_params=params,
            mcu_id=None if mcu is None else r.text("mcu_id", pattern=_IDENT),
        )
        r.done()
        return inv
