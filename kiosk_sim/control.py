"""The kiosk-sim control surface: a small JSON HTTP API on loopback that scripts the devices.

    GET    /status                                   what the devices are doing
    POST   /card      {"persona": "ayu", "fault": "cloned"}   insert a card (fault optional)
    DELETE /card                                     pull the card
    POST   /sam       {"present": true, "activated": true}
    POST   /finger    {"persona": "ayu", "finger": "left_index"} | {"other": true}
                      ("touch": true: the finger lifts again after one capture)
    DELETE /finger                                   lift the finger
    POST   /sensor    {"poor_image": true} | {"unresponsive": true|false}
    POST   /enclosure {"open": true|false}
    POST   /mcu       {"enclosure_open": bool, "light_covered": bool, "heartbeat_cut": bool}
                      (with `kiosk-sim up`: the supervisor MCU's inputs; any subset of keys)

Errors answer 400 with {"error": "..."}; nothing here carries personal data.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kiosk_sim.devices import DeviceScriptError, SimulatedDevices
from simulators.mcu import McuSim

_log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BadRequest(Exception):
    pass


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except json.JSONDecodeError:
        raise _BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _BadRequest("body must be a JSON object")
    return body


def _field(body: dict[str, Any], key: str, kind: type, default: Any = ...) -> Any:
    value = body.get(key, default)
    if value is ...:
        raise _BadRequest(f"missing field {key!r}")
    if value is not None and value is not default and not isinstance(value, kind):
        raise _BadRequest(f"field {key!r} must be a {kind.__name__}")
    return value


def make_app(devices: SimulatedDevices, mcu: McuSim | None = None) -> web.Application:
    """The control app for one set of simulated devices (and the supervisor MCU, if any)."""

    def route(action: Callable[[dict[str, Any]], None]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                body = await _body(request)
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, functools.partial(action, body))
            except (_BadRequest, DeviceScriptError) as err:
                return web.json_response({"error": str(err)}, status=400)
            return web.json_response(devices.status())

        return handler

    def card(body: dict[str, Any]) -> None:
        devices.insert_card(_field(body, "persona", str), _field(body, "fault", str, None))

    def sam(body: dict[str, Any]) -> None:
        devices.set_sam(_field(body, "present", bool, True), _field(body, "activated", bool, True))

    def finger(body: dict[str, Any]) -> None:
        touch = _field(body, "touch", bool, False)
        if _field(body, "other", bool, False):
            devices.place_other_finger(touch=touch)
        else:
            devices.place_finger(
                _field(body, "persona", str),
                _field(body, "finger", str, "right_index"),
                touch=touch,
            )

    def sensor(body: dict[str, Any]) -> None:
        if _field(body, "poor_image", bool, False):
            devices.poor_image()
        unresponsive = _field(body, "unresponsive", bool, None)
        if unresponsive is not None:
            devices.sensor_unresponsive(unresponsive)

    def supervisor(body: dict[str, Any]) -> None:
        if mcu is None:
            raise _BadRequest("no supervisor MCU in this simulation (use `kiosk-sim up`)")
        switches = {
            "enclosure_open": (mcu.open_enclosure, mcu.close_enclosure),
            "light_covered": (mcu.cover_light_sensor, mcu.expose_light_sensor),
            "heartbeat_cut": (mcu.cut_heartbeat, mcu.restore_heartbeat),
        }
        for key, (on, off) in switches.items():
            value = _field(body, key, bool, None)
            if value is not None:
                (on if value else off)()

    async def status(request: web.Request) -> web.StreamResponse:
        return web.json_response(devices.status())

    app = web.Application(client_max_size=4096)
    app.router.add_get("/status", status)
    app.router.add_post("/card", route(card))
    app.router.add_delete("/card", route(lambda _: devices.remove_card()))
    app.router.add_post("/sam", route(sam))
    app.router.add_post("/finger", route(finger))
    app.router.add_delete("/finger", route(lambda _: devices.lift_finger()))
    app.router.add_post("/sensor", route(sensor))
    app.router.add_post("/mcu", route(supervisor))
    app.router.add_post(
        "/enclosure", route(lambda b: devices.set_enclosure(_field(b, "open", bool)))
    )
    return app


async def start_control(
    devices: SimulatedDevices, host: str = "127.0.0.1", port: int = 0, mcu: McuSim | None = None
) -> tuple[web.AppRunner, int]:
    """Serve the control API on loopback; returns the runner and the bound port."""
    runner = web.AppRunner(make_app(devices, mcu), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    _log.info("control surface on http://%s:%d", host, bound)
    return runner, int(bound)
