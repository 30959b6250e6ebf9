"""The one TOML config reader and the one ConfigError of every process.

`read_toml` reads a file with tomllib and turns OS and TOML errors into a ConfigError naming the
file (and the line where tomllib gives it). The `ConfigFile` it returns hands its table to the
strict reader (`protocol.strict.Reader(file.data, error=file.fail)`), which names the key of any
mistake, and resolves relative paths from the file's folder.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$")


class ConfigError(Exception):
    """A configuration that cannot be used: `key` names the setting (dotted: `gateway.url`),
    `reason` what is wrong, `source` the file and `line` the line where known.

    Packages subclass it into their own exception tree (gateway, agent, fleet).
    """

    def __init__(
        self, key: str, reason: str, source: str | None = None, line: int | None = None
    ) -> None:
        where = None if source is None else source if line is None else f"{source}:{line}"
        super().__init__(": ".join(part for part in (where, key, reason) if part))
        self.key = key
        self.reason = reason
        self.source = source
        self.line = line


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A configuration document: its top table, the folder relative paths start from, the name
    errors give it, and the ConfigError class of the package that reads it."""

    data: dict[str, Any]
    folder: Path
    source: str | None = None
    error: type[ConfigError] = ConfigError

    def fail(self, key: str, reason: str) -> ConfigError:
        """The error for `key` of this file (the strict reader's error factory)."""
        return self.error(key, reason, self.source)

    def path(self, text: str) -> Path:
        """`text` as a path: relative to the file's folder unless absolute."""
        path = Path(text)
        return path if path.is_absolute() else self.folder / path


def read_toml(path: str | Path, error: type[ConfigError] = ConfigError) -> ConfigFile:
    """Read a TOML file; `error` (a ConfigError) names the file when it cannot be read or parsed."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise error("", f"cannot be read ({err.strerror})", source) from err
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise error("", "is not UTF-8", source) from err
    except tomllib.TOMLDecodeError as err:
        text = str(err.args[0]) if err.args else str(err)
        found = _AT_LINE.search(text)
        line = getattr(err, "lineno", None) or (int(found.group(1)) if found else None)
        reason = _AT_LINE.sub("", text)
        raise error("", f"not valid TOML: {reason}", source, line) from err
    return ConfigFile(data, path.resolve().parent, source, error)
