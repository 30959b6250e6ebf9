"""What every step of a run receives: the agent's configuration, the technician, the fleet
client, the person's answers, and the backends that reach the hardware (injected: tests give
fakes or simulators, the tool the real drivers)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

from common.errors import TlsFileError, TlsProviderError, TokenError
from common.tls import client_context, load_token_provider, write_token_provider_config
from common.token import Token, TokenConfig
from edge_agent.config import AgentConfig, IdentityConfig
from edge_agent.errors import IdentityError
from edge_agent.identity.device import DeviceIdentity, token_config
from provisioning.backends import Backends, McuLink
from provisioning.errors import ProvisionError, UsageError
from provisioning.fleet_client import FleetClient
from provisioning.mcu_keeper import McuKeeper
from provisioning.output import Reporter
from provisioning.state import RunState
from provisioning.technician import Technician


class Prompter(Protocol):
    """Questions to the technician on site."""

    def confirm(self, question_id: str, question_en: str) -> bool:
        """A yes/no question."""

    def wait(self, instruction_id: str, instruction_en: str) -> None:
        """An instruction; returns once the technician says it is done."""


class JsonPrompter:
    """Questions as JSON Lines events ({"event": "prompt", ...}), answers one line on stdin each
    (y for yes): a script or a test drives the tool through them."""

    def __init__(self, out: Reporter, stdin: TextIO | None = None) -> None:
        self._out = out
        self._in = stdin if stdin is not None else sys.stdin

    def _ask(self, kind: str, text_id: str, text_en: str) -> str:
        self._out.emit({"event": "prompt", "kind": kind, "text_id": text_id, "text_en": text_en})
        return self._in.readline().strip().lower()

    def confirm(self, question_id: str, question_en: str) -> bool:
        """Ask; "y" is yes."""
        return self._ask("confirm", question_id, question_en) in ("y", "ya", "yes")

    def wait(self, instruction_id: str, instruction_en: str) -> None:
        """Tell; return on the next line."""
        self._ask("wait", instruction_id, instruction_en)


class ConsolePrompter:
    """Questions on the terminal (Indonesian first): y/t for yes, anything else no."""

    def confirm(self, question_id: str, question_en: str) -> bool:
        """Ask on the terminal."""
        answer = input(f"  {question_id} / {question_en} [y/T] ")
        return answer.strip().lower() in ("y", "ya", "yes")

    def wait(self, instruction_id: str, instruction_en: str) -> None:
        """Wait for Enter."""
        input(f"  {instruction_id} / {instruction_en} [Enter] ")


@dataclass(frozen=True)
class Options:
    """What the technician gave on the command line."""

    serial: str = ""
    location: str = ""
    representative: str = ""
    confirm_indicators: bool = False
    reason: str = ""
    return_to_service: bool = False
    log_dirs: tuple[Path, ...] = ()
    enrolment_token_file: Path | None = None  # a token obtained beforehand (else asked for)


@dataclass
class Session:
    """One run of the tool."""

    config: AgentConfig
    options: Options
    technician: Technician
    state: RunState
    out: Reporter
    prompt: Prompter
    backends: Backends
    wall: Callable[[], float] = time.time
    cache: dict[str, Any] = field(default_factory=dict)
    keeper: McuKeeper | None = None  # the MCU's link with heartbeats, for the whole run

    @contextlib.contextmanager
    def mcu(self) -> Iterator[McuLink]:
        """The supervisor MCU's link (the keeper's, or one opened for this use)."""
        if self.keeper is not None:
            yield self.keeper.link()
        else:
            with self.backends.supervisor(self.config) as link:
                yield link

    @contextlib.contextmanager
    def mcu_port_free(self) -> Iterator[None]:
        """The MCU's port closed meanwhile (for a driver that opens it itself)."""
        if self.keeper is None:
            yield
        else:
            with self.keeper.paused():
                yield

    @property
    def identity_config(self) -> IdentityConfig:
        """[identity] of agent.toml (UsageError without it)."""
        cfg = self.config.identity
        if cfg is None:
            raise UsageError(
                "NO_IDENTITY",
                "agent.toml tidak punya bagian [identity]: kios ini belum siap untuk enrolmen.",
                "agent.toml has no [identity] section: this kiosk is not set up for enrolment.",
            )
        return cfg

    @property
    def device(self) -> str:
        """The kiosk's device id."""
        return self.config.device.id

    @property
    def state_dir(self) -> Path:
        """The agent's state folder (where the run's state file lives)."""
        return self.state.path.parent

    @property
    def fleet_base(self) -> str:
        """https://host:port of the fleet service (the origin of [identity] est_url)."""
        parts = urlsplit(self.identity_config.est_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def token_config(self) -> TokenConfig:
        """The kiosk's token."""
        return token_config(self.identity_config)

    def technician_context(self) -> ssl.SSLContext:
        """TLS to the fleet service with the technician's certificate."""
        tech = self.technician
        try:
            if tech.token_module is not None:  # its key in a token: OpenSSL's provider reads it
                conf = self.state_dir / ".openssl-technician.cnf"
                self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                # its PIN file too: OpenSSL may hand the provider the fleet service's public key
                # to verify with, kept on the module's first token (common.tls)
                conf = write_token_provider_config(conf, tech.token_module, tech.pin_file)
                load_token_provider(conf)
            return client_context(self.identity_config.est_ca_file, tech.cert_file, tech.key_file)
        except (TlsFileError, TlsProviderError, ssl.SSLError, OSError) as err:
            raise UsageError(
                "TECHNICIAN_TLS",
                f"Sertifikat teknisi tidak dapat dipakai untuk TLS ({err}).",
                f"The technician's certificate cannot be used for TLS ({err}).",
            ) from err

    def fleet(self) -> FleetClient:
        """The fleet service as the technician."""
        if "fleet" not in self.cache:
            self.cache["fleet"] = FleetClient(self.fleet_base, self.technician_context())
        client: FleetClient = self.cache["fleet"]
        return client

    def open_token(self, error: type[ProvisionError]) -> Token:
        """The kiosk's token, opened (error naming the token and what to do)."""
        try:
            return self.backends.open_token(self.token_config)
        except TokenError as err:
            raise error(
                "TOKEN_UNAVAILABLE",
                f"Token PKCS#11 kios tidak dapat dibuka: {err}",
                f"The kiosk's PKCS#11 token cannot be opened: {err}",
            ) from err

    async def identity(self, error: type[ProvisionError]) -> DeviceIdentity:
        """The kiosk's started identity (its certificate from an earlier step)."""
        found = self.cache.get("identity")
        if isinstance(found, DeviceIdentity):
            return found
        ident = DeviceIdentity(
            dataclasses.replace(self.identity_config, enrolment_token_file=None), self.device
        )
        try:
            await ident.start()
        except IdentityError as err:
            raise error(
                "NO_CERTIFICATE",
                f"Kios belum punya sertifikat yang berlaku ({err}): jalankan langkah enrol lagi.",
                f"The kiosk has no usable certificate ({err}): run the enrol step again.",
            ) from err
        self.cache["identity"] = ident
        return ident

    async def in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking backend call off the event loop."""
        return await asyncio.to_thread(fn, *args)
