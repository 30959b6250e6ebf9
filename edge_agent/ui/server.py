"""The kiosk page: served on loopback by the agent, updated live over a WebSocket.

The page is three static files read once at start (the HTML filled with the kiosk's id, the
institution's help contact and the page texts). The session's screens are pushed to every
connected page as JSON; personal data (the elements of a found record) travels only in the
WebSocket messages of the result screen, never in a URL, and the page drops it when the result
screen ends. The page sends back three commands: accept the privacy notice, switch finger and
cancel. The spoken prompts (fixed texts, `voice`) are served from their folder by key.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from common.tasks import cancel_and_wait
from edge_agent.session.screens import Screen, ScreenName
from edge_agent.ui import texts, voice
from hardware.card.reader import Finger
from protocol.outcomes import Lang

_log = logging.getLogger(__name__)

_STATIC = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "text/javascript"),
    "/style.css": ("style.css", "text/css"),
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
_MAX_QUEUE = 16


class UiControl(Protocol):
    """What the page may ask of the session (edge_agent.session.verification.Session has it)."""

    def select_finger(self, finger: Finger) -> bool:
        """The citizen chose the other finger."""
        ...

    def cancel(self) -> bool:
        """The citizen pressed cancel, or closed the result screen."""
        ...

    def accept_notice(self) -> bool:
        """The citizen accepted the privacy notice."""
        ...

    def result_delivered(self, result_id: str) -> None:
        """A result screen went out to a page (the count behind it was shown)."""
        ...


class UiServer:
    """Serves the kiosk page and pushes screens to it; a ScreenObserver of the session."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        control: UiControl | None = None,
        language: Lang = Lang.ID,
        kiosk_id: str = "",
        help_contact: str = "",
        voice_dir: Path | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._control = control
        self._language = language
        self._screen = Screen(ScreenName.IDLE)
        self._clients: set[asyncio.Queue[Screen]] = set()
        self._files = {path: _read(name) for path, (name, _) in _STATIC.items()}
        self._files["/"] = _fill(self._files["/"], kiosk_id, help_contact)
        self._voice_dir = voice_dir  # None: no spoken prompts (the config switched them off)
        self._voice_ready = asyncio.Event()
        self._voice_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._bound_port = 0

    # --- ScreenObserver -----------------------------------------------------------------------

    def show(self, screen: Screen) -> None:
        """Push `screen` to every connected page (the newest screen wins a full queue)."""
        self._screen = screen
        for queue in self._clients:
            if queue.full():
                _drain(queue)
            queue.put_nowait(screen)

    def set_control(self, control: UiControl) -> None:
        """Where the page's commands go."""
        self._control = control

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (useful with port 0)."""
        return self._bound_port

    @property
    def url(self) -> str:
        """The page's address, for the kiosk browser."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._bound_port}/"

    @property
    def clients(self) -> int:
        """Pages connected now."""
        return len(self._clients)

    async def start(self) -> None:
        """Listen on the configured loopback address."""
        app = web.Application(middlewares=[self._guard])
        for path in _STATIC:
            app.router.add_get(path, self._static)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/voice/{lang}/{key}.wav", self._voice)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or ()
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
        _log.info("kiosk page on %s", self.url)
        if self._voice_dir is not None and self._voice_task is None:
            self._voice_task = asyncio.get_running_loop().create_task(
                self._make_prompts(self._voice_dir), name="ui-voice"
            )

    async def wait_voice(self) -> bool:
        """Wait until the spoken prompts are made; False when there are none."""
        if self._voice_task is not None:
            await asyncio.shield(self._voice_task)
        return self._voice_ready.is_set()

    async def _make_prompts(self, folder: Path) -> None:
        try:
            made = await voice.ensure(folder)
        except voice.VoiceError as err:
            _log.warning("no spoken prompts: %s", err)
            return
        _log.info("spoken prompts ready in %s (%d made now)", folder, made)
        self._voice_ready.set()

    async def stop(self) -> None:
        """Close every page connection and stop listening."""
        if self._voice_task is not None:
            await cancel_and_wait(self._voice_task)
            self._voice_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- HTTP ---------------------------------------------------------------------------------

    def _allowed_hosts(self) -> set[str]:
        port = self._bound_port
        return {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"{self._host}:{port}"}

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Loopback Host names only (no DNS rebinding); security headers on every answer."""
        if request.host not in self._allowed_hosts():
            return web.Response(status=421, text="wrong host")
        if request.query_string:
            return web.Response(status=400, text="no query strings here")
        response = await handler(request)
        if not isinstance(response, web.WebSocketResponse):
            response.headers.update(_HEADERS)
        return response

    async def _static(self, request: web.Request) -> web.Response:
        _, content_type = _STATIC[request.path]
        return web.Response(
            body=self._files[request.path], content_type=content_type, charset="utf-8"
        )

    async def _voice(self, request: web.Request) -> web.Response:
        lang, key = request.match_info["lang"], request.match_info["key"]
        if self._voice_dir is None or not self._voice_ready.is_set():
            return web.Response(status=404, text="no spoken prompts")
        if not voice.is_prompt(lang, key):
            return web.Response(status=404, text="no such prompt")
        try:
            body = await asyncio.to_thread((self._voice_dir / lang / f"{key}.wav").read_bytes)
        except OSError:
            return web.Response(status=404, text="prompt missing")
        return web.Response(body=body, content_type="audio/wav")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"screen": self._screen.name.value, "clients": self.clients})

    # --- WebSocket ----------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin.removeprefix("http://") not in self._allowed_hosts():
            return web.Response(status=403, text="wrong origin")
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
        await ws.prepare(request)
        queue: asyncio.Queue[Screen] = asyncio.Queue(_MAX_QUEUE)
        queue.put_nowait(self._screen)
        self._clients.add(queue)
        voice_on = self._voice_dir is not None
        await ws.send_json({"type": "hello", "language": self._language.value, "voice": voice_on})
        writer = asyncio.get_running_loop().create_task(
            _write(ws, queue, self._delivered), name="ui-writer"
        )
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._command(msg.data)
        finally:
            self._clients.discard(queue)
            await cancel_and_wait(writer)
        return ws

    def _delivered(self, result_id: str) -> None:
        if self._control is None:
            return
        try:
            self._control.result_delivered(result_id)
        except Exception:  # the page keeps its screens whatever the counter does
            _log.exception("result %s delivered, not recorded", result_id)

    def _command(self, text: str) -> None:
        try:
            cmd = json.loads(text)
        except ValueError:
            cmd = None
        kind = cmd.get("type") if isinstance(cmd, dict) else None
        if self._control is None or kind not in ("select_finger", "cancel", "accept_notice"):
            _log.debug("page command ignored")
            return
        if kind == "cancel":
            self._control.cancel()
            return
        if kind == "accept_notice":
            self._control.accept_notice()
            return
        assert isinstance(cmd, dict)
        names = {f.value: f for f in Finger}
        finger = cmd.get("finger")
        if isinstance(finger, str) and finger in names:
            self._control.select_finger(names[finger])


async def _write(
    ws: web.WebSocketResponse, queue: asyncio.Queue[Screen], delivered: Callable[[str], None]
) -> None:
    """Send each screen; its message (the only text copy of any element) is dropped at once."""
    while True:
        screen = await queue.get()
        message: dict[str, Any] = {"type": "screen", **screen.to_message()}
        try:
            await ws.send_str(json.dumps(message, ensure_ascii=False))
        except (ConnectionError, RuntimeError):
            return
        finally:
            del message
        if screen.result_id is not None:
            delivered(screen.result_id)


def _drain(queue: asyncio.Queue[Screen]) -> None:
    while not queue.empty():
        queue.get_nowait()


def _fill(page: bytes, kiosk_id: str, help_contact: str) -> bytes:
    """The HTML with the kiosk's id, the help contact and the page texts in it."""
    text = page.decode("utf-8")
    text = text.replace("{{kiosk_id}}", html.escape(kiosk_id or "-"))
    text = text.replace("{{help_contact}}", html.escape(help_contact))
    text = text.replace("{{texts}}", texts.page_json())
    return text.encode("utf-8")


def _read(name: str) -> bytes:
    return (resources.files("edge_agent.ui") / "static" / name).read_bytes()
