"""SoftHSM2, the PKCS#11 token of the simulated stack and of the tests, in a private folder.

`SoftHsm(folder)` writes a softhsm2.conf whose token directory is inside `folder`; a process
that uses it needs `SOFTHSM2_CONF` in its environment (`env()`) before it first loads the
module. `init_token(label)` makes a token with `softhsm2-util` and writes its user PIN to a file
(mode 0600) beside it: it returns the `TokenConfig` the agent and the device CA read.

SoftHSM reads its token directory when the module is initialised (C_Initialize), and OpenSSL's
pkcs11-provider lists the slots once when it first loads: a process sees the tokens that
existed then. Make every token a process needs before it first opens one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from common.token import TokenConfig

# Where Debian and Raspberry Pi OS install SoftHSM2's PKCS#11 module (package libsofthsm2).
MODULE_CANDIDATES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/arm-linux-gnueabihf/softhsm/libsofthsm2.so"),
)


class SoftHsmError(Exception):
    """SoftHSM2 is not installed, or a token could not be made."""


def softhsm_module() -> Path:
    """The installed SoftHSM2 PKCS#11 module; SoftHsmError naming the package if none is."""
    for path in MODULE_CANDIDATES:
        if path.is_file():
            return path
    raise SoftHsmError(
        "SoftHSM2's PKCS#11 module is not installed: run scripts/install-debian-packages.sh "
        "(Debian package softhsm2)"
    )


class SoftHsm:
    """A SoftHSM2 configuration with its token directory in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.module = softhsm_module()
        self.conf = folder / "softhsm2.conf"
        self.tokendir = folder / "tokens"
        self.tokendir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"directories.tokendir = {self.tokendir}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n",
            encoding="utf-8",
        )

    def env(self) -> dict[str, str]:
        """The environment variables a process using these tokens needs."""
        return {"SOFTHSM2_CONF": str(self.conf)}

    def init_token(self, label: str, pin: str | None = None) -> TokenConfig:
        """Make a token `label` with a user PIN (random unless given) in a 0600 file beside it."""
        util = shutil.which("softhsm2-util")
        if util is None:
            raise SoftHsmError("softhsm2-util is missing: install the Debian package softhsm2")
        pin = pin or secrets.token_hex(8)
        so_pin = secrets.token_hex(8)
        done = subprocess.run(
            [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
            env={"SOFTHSM2_CONF": str(self.conf), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if done.returncode != 0:
            raise SoftHsmError(
                f"softhsm2-util could not make token {label!r}: {done.stderr.strip()}"
            )
        pin_file = self.folder / f"{label}.pin"
        pin_file.touch(mode=0o600)
        pin_file.write_text(pin + "\n", encoding="utf-8")
        return TokenConfig(self.module, label, pin_file)

    def key_labels(self, token: TokenConfig) -> list[str]:
        """The labels of the keys on `token`, asked in a child process (this one keeps no
        SoftHSM state that could go stale)."""
        code = (
            "import sys; from pathlib import Path; from common.token import Token, TokenConfig;"
            "t = Token.open(TokenConfig(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])));"
            "print('\\n'.join(t.key_labels()))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(token.module), token.label, str(token.pin_file)],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if done.returncode != 0:
            raise SoftHsmError(f"cannot list the keys of token {token.label!r}: {done.stderr}")
        return done.stdout.split()
