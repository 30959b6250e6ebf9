"""The supervisor MCU's link held for the whole run, with heartbeats.

While `kiosk-provision` runs the agent is stopped, and the MCU power-cycles a Pi whose
heartbeats stop (after `misses` heartbeat periods: 30 s by default): the tool therefore sends
heartbeats itself, every [supervisor] heartbeat_interval, from a thread, while it runs. Steps
that talk to the MCU borrow this link (`link()`); a step whose code opens the MCU's port itself
(the binding step reads the board's id) runs inside `paused()`, the port closed meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from edge_agent.config import AgentConfig
from provisioning.backends import McuLink

_log = logging.getLogger(__name__)


class McuKeeper:
    """Opens the link, heartbeats, lends it; an open failure is raised by `link()`."""

    def __init__(
        self,
        open_link: Callable[[AgentConfig], AbstractContextManager[McuLink]],
        config: AgentConfig,
    ) -> None:
        assert config.supervisor is not None
        self._open = open_link
        self._config = config
        self._interval = config.supervisor.heartbeat_interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._paused = False
        self._exit: contextlib.ExitStack | None = None
        self._link: McuLink | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the heartbeat thread (the link opens on its first pass)."""
        self._thread = threading.Thread(target=self._run, name="mcu-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop heartbeating and close the link."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            self._close()

    def link(self) -> McuLink:
        """The open link (opened now if need be); its open failure as raised."""
        with self._lock:
            if self._link is None:
                self._ensure()
            if self._link is None:
                assert self._error is not None
                raise self._error
            return self._link

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The port closed inside (another driver opens it); reopened after."""
        with self._lock:
            self._paused = True
            self._close()
        try:
            yield
        finally:
            with self._lock:
                self._paused = False
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._paused:
                    self._beat()
            self._wake.wait(self._interval)
            self._wake.clear()

    def _beat(self) -> None:
        self._ensure()
        if self._link is None:
            return
        try:
            self._link.send_heartbeat()
        except Exception as err:  # a link that failed: reopened on the next pass
            _log.warning("heartbeat to the MCU failed: %s", err)
            self._error = err
            self._close()

    def _ensure(self) -> None:
        if self._link is not None or self._paused:
            return
        exit_stack = contextlib.ExitStack()
        try:
            self._link = exit_stack.enter_context(self._open(self._config))
        except Exception as err:  # OSError, SupervisorError: the step that needs it says so
            exit_stack.close()
            self._error = err
            return
        self._exit, self._error = exit_stack, None

    def _close(self) -> None:
        exit_stack, self._exit, self._link = self._exit, None, None
        if exit_stack is not None:
            try:
                exit_stack.close()
            except Exception as err:
                _log.warning("closing the MCU link: %s", err)
