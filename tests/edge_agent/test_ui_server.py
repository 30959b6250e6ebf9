"""The kiosk page's server over real loopback HTTP and WebSocket (browser tests: tests/ui)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from edge_agent.session.screens import Screen, ScreenName, TryProblem
from edge_agent.ui.server import UiServer
from hardware.card.reader import Finger
from protocol.elements import DataElement
from protocol.outcomes import Lang, Outcome
from simulators.personas import PERSONAS

AYU = PERSONAS["ayu"]


@dataclass
class Control:
    fingers: list[Finger] = field(default_factory=list)
    cancels: int = 0
    accepted: int = 0
    delivered: list[str] = field(default_factory=list)

    def select_finger(self, finger: Finger) -> bool:
        self.fingers.append(finger)
        return True

    def cancel(self) -> bool:
        self.cancels += 1
        return True

    def accept_notice(self) -> bool:
        self.accepted += 1
        return True

    def result_delivered(self, result_id: str) -> None:
        self.delivered.append(result_id)


@pytest.fixture
async def ui() -> AsyncIterator[tuple[UiServer, Control]]:
    control = Control()
    server = UiServer("127.0.0.1", 0, control=control, language=Lang.EN)
    await server.start()
    yield server, control
    await server.stop()


async def _screen(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive_json(timeout=5)
    assert msg["type"] == "screen"
    return dict(msg)


async def test_static_files_with_security_headers(ui: tuple[UiServer, Control]) -> None:
    server, _ = ui
    async with aiohttp.ClientSession() as http:
        for path, kind in (
            ("", "text/html"),
            ("app.js", "text/javascript"),
            ("style.css", "text/css"),
        ):
            async with http.get(server.url + path) as resp:
                assert resp.status == 200
                assert resp.content_type == kind
                assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
                assert resp.headers["Cache-Control"] == "no-store"
                assert resp.headers["Referrer-Policy"] == "no-referrer"
        async with http.get(server.url + "nothing") as resp:
            assert resp.status == 404


async def test_no_query_strings_and_only_loopback_host_names(ui: tuple[UiServer, Control]) -> None:
    server, _ = ui
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "?nik=1") as resp:
            assert resp.status == 400
        async with http.get(server.url, headers={"Host": f"evil.example:{server.port}"}) as resp:
            assert resp.status == 421
        async with http.get(f"http://localhost:{server.port}/healthz") as resp:
            assert resp.status == 200


async def test_websocket_pushes_screens_and_takes_commands(ui: tuple[UiServer, Control]) -> None:
    server, control = ui
    async with aiohttp.ClientSession() as http, http.ws_connect(server.url + "ws") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello == {"type": "hello", "language": "en", "voice": False}
        assert (await _screen(ws))["screen"] == "idle"
        server.show(
            Screen(
                ScreenName.FINGER,
                finger=Finger.RIGHT_INDEX,
                fingers=tuple(Finger),
                tries_left=2,
                problem=TryProblem.MISMATCH,
                seconds=12.5,
            )
        )
        assert await _screen(ws) == {
            "type": "screen",
            "screen": "finger",
            "seconds": 12.5,
            "finger": "right_index",
            "fingers": ["right_index", "left_index"],
            "tries_left": 2,
            "problem": "mismatch",
        }
        await ws.send_str(json.dumps({"type": "select_finger", "finger": "left_index"}))
        await ws.send_str(json.dumps({"type": "select_finger", "finger": "thumb"}))
        await ws.send_str("not json")
        await ws.send_str(json.dumps({"type": "reboot"}))
        await ws.send_str(json.dumps({"type": "cancel"}))
        await ws.send_str(json.dumps({"type": "accept_notice"}))
        elements = {DataElement.FULL_NAME: bytearray(AYU.full_name.encode())}
        server.show(Screen(ScreenName.RESULT, outcome=Outcome.FOUND, seconds=8, elements=elements))
        result = await _screen(ws)
        assert result["elements"] == [["nama_lengkap", AYU.full_name]]
        assert result["text"] == {"id": "Data Ditemukan", "en": "Data found"}
        assert result["success"] is True
        assert result["family"] == "found"
    assert control.fingers == [Finger.LEFT_INDEX]
    assert control.cancels == 1
    assert control.accepted == 1


async def test_a_page_that_connects_late_gets_the_current_screen(
    ui: tuple[UiServer, Control],
) -> None:
    server, _ = ui
    server.show(Screen(ScreenName.DEACTIVATED))
    async with aiohttp.ClientSession() as http, http.ws_connect(server.url + "ws") as ws:
        await ws.receive_json(timeout=5)
        screen = await _screen(ws)
        assert screen["screen"] == "deactivated"
        assert screen["text"]["id"] == Outcome.DEVICE_DEACTIVATED.text()
        assert server.clients == 1


async def test_a_result_screen_sent_to_a_page_is_reported_delivered(
    ui: tuple[UiServer, Control],
) -> None:
    server, control = ui
    async with aiohttp.ClientSession() as http, http.ws_connect(server.url + "ws") as ws:
        await ws.receive_json(timeout=5)
        await _screen(ws)  # idle
        server.show(Screen(ScreenName.RESULT, outcome=Outcome.NOT_FOUND, result_id="17-3"))
        screen = await _screen(ws)
        assert screen["result_id"] == "17-3"
        assert control.delivered == ["17-3"]  # written to the page before it was read there
        server.show(Screen(ScreenName.IDLE))
        await _screen(ws)
        assert control.delivered == ["17-3"]  # other screens carry no count


async def test_websocket_from_a_foreign_origin_is_refused(ui: tuple[UiServer, Control]) -> None:
    server, _ = ui
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await http.ws_connect(server.url + "ws", origin="http://evil.example")
    assert caught.value.status == 403


async def test_wiped_elements_are_sent_empty() -> None:
    """A result screen still queued when the session wipes its buffers carries nothing."""
    elements = {DataElement.FULL_NAME: bytearray(AYU.full_name.encode())}
    screen = Screen(ScreenName.RESULT, outcome=Outcome.FOUND, elements=elements)
    elements.clear()
    assert screen.to_message()["elements"] == []
    assert "elements=<0>" in repr(screen)
