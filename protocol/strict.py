"""The one strict reader of structured input (pure, no I/O).

Kiosk-gateway bodies, MQTT payloads, signed documents, institution policies and every TOML
configuration are read through `Reader`: typed getters that name the key path on error
(`institutions.lib-01.sanctions.quota`, `elements[2]`) and never the value, and `done()`, which
refuses keys nobody asked for. Errors are `StrictError`, or what the caller's `error` factory
makes from the same two words (a path and a reason), so each package keeps its own exception tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, Final, TypeVar, overload

from protocol.errors import ProtocolError

MAX_SAFE_INTEGER: Final = 2**53 - 1  # the integers every JSON reader agrees on
REQUIRED: Final[Any] = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()
"""The default of a getter whose key must be present."""

_D = TypeVar("_D")
_E = TypeVar("_E", bound=Enum)
# An unknown key is named only when it cannot carry data (a NIK or a name used as a key).
_SAFE_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,31}\Z")


class StrictError(ProtocolError, ValueError):
    """Input that does not follow its schema: `path` names where, `reason` says what is wrong.

    The value itself is never part of the message (it may be personal data).
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


ErrorFactory = Callable[[str, str], Exception]
"""Makes the error to raise from a key path and a reason (StrictError or a subclass by default)."""


def kind_of(value: object) -> str:
    """What a decoded value is, in words for an error message (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a table/object"
    if isinstance(value, list | tuple):
        return "a list"
    return "a " + type(value).__name__


class Reader:
    """Typed, tracked access to one decoded table/object (JSON object or TOML table)."""

    def __init__(self, obj: object, path: str = "", error: ErrorFactory = StrictError) -> None:
        if not isinstance(obj, Mapping):
            raise error(path or "document", f"must be a table/object (got {kind_of(obj)})")
        self._obj: Mapping[str, Any] = obj
        self.path = path
        self._error = error
        self._seen: set[str] = set()

    def at(self, key: str) -> str:
        """The key path of `key` in this table (`match.score`)."""
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, reason: str) -> Exception:
        """The error to raise for `key` of this table."""
        return self._error(self.at(key), reason)

    def has(self, key: str) -> bool:
        """True if `key` is present (it is not marked as read)."""
        return key in self._obj

    def names(self) -> list[str]:
        """Every key present, all marked as read (for tables keyed by names, e.g. institutions)."""
        names = [str(k) for k in self._obj]
        self._seen.update(names)
        return names

    def raw(self, key: str, default: Any = REQUIRED) -> Any:
        """The value as decoded, or `default` when absent."""
        return default if self._absent(key, default) else self._obj[key]

    def _absent(self, key: str, default: object) -> bool:
        """Mark `key` read; True when it is absent and has a default, the error when required."""
        self._seen.add(key)
        if key in self._obj:
            return False
        if default is REQUIRED:
            raise self.error(key, "missing")
        return True

    def text(
        self,
        key: str,
        default: _D = REQUIRED,
        pattern: re.Pattern[str] | None = None,
        *,
        empty: bool = False,
    ) -> str | _D:
        """A string (not empty unless `empty`), matching `pattern` when given."""
        if self._absent(key, default):
            return default
        value = self._obj[key]
        if not isinstance(value, str):
            raise self.error(key, f"must be a string (got {kind_of(value)})")
        if not value and not empty:
            raise self.error(key, "must not be empty")
        if pattern is not None and not pattern.match(value):
            raise self.error(key, f"must match {pattern.pattern}")
        return value

    def choice(self, key: str, options: Sequence[str], default: _D = REQUIRED) -> str | _D:
        """One of `options`."""
        if self._absent(key, default):
            return default
        value = self._obj[key]
        if not isinstance(value, str) or value not in options:
            raise self.error(key, f"must be one of {', '.join(options)}")
        return value

    def member(self, key: str, kind: type[_E], default: _D = REQUIRED) -> _E | _D:
        """The member of the enumeration `kind` whose value this is."""
        if self._absent(key, default):
            return default
        return kind(self.choice(key, [str(m.value) for m in kind]))

    def integer(
        self, key: str, default: _D = REQUIRED, lo: int = 0, hi: int = MAX_SAFE_INTEGER
    ) -> int | _D:
        """An integer from lo to hi; an integral number such as 3.0 counts (as in JSON Schema),
        a boolean does not."""
        if self._absent(key, default):
            return default
        value = self._obj[key]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(key, f"must be an integer (got {kind_of(value)})")
        if not lo <= value <= hi:
            raise self.error(key, f"must be between {lo} and {hi}")
        return value

    def number(
        self, key: str, default: _D = REQUIRED, lo: float = 0.0, hi: float = 1e15
    ) -> float | _D:
        """A finite number from lo to hi (an integer counts), as a float."""
        if self._absent(key, default):
            return default
        value = self._obj[key]
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.error(key, f"must be a number (got {kind_of(value)})")
        if not lo <= value <= hi:
            raise self.error(key, f"must be between {lo:g} and {hi:g}")
        return float(value)

    def seconds(self, key: str, default: _D = REQUIRED, hi: float = 3600.0) -> float | _D:
        """A duration: more than 0 and at most `hi` seconds."""
        if self._absent(key, default):
            return default
        value = self._obj[key]
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.error(key, f"must be a number of seconds (got {kind_of(value)})")
        if not 0 < value <= hi:
            raise self.error(key, f"must be more than 0 and at most {hi:g} seconds")
        return float(value)

    def boolean(self, key: str, default: _D = REQUIRED) -> bool | _D:
        """true or false."""
        if self._absent(key, default):
            return default
        value = self._obj[key]
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false (got {kind_of(value)})")
        return value

    def items(self, key: str, default: _D = REQUIRED, min_items: int = 0) -> list[Any] | _D:
        """A list (of at least `min_items`), its items as decoded."""
        if self._absent(key, default):
            return default
        value = self._obj[key]
        if not isinstance(value, list):
            raise self.error(key, f"must be a list (got {kind_of(value)})")
        if len(value) < min_items:
            raise self.error(key, "must not be empty" if min_items == 1 else "has too few items")
        return value

    def texts(
        self,
        key: str,
        default: _D = REQUIRED,
        pattern: re.Pattern[str] | None = None,
        *,
        min_items: int = 0,
    ) -> list[str] | _D:
        """A list of non-empty strings, each matching `pattern` when given (`key[2]` on error)."""
        if self._absent(key, default):
            return default
        value = self.items(key, min_items=min_items)
        for i, item in enumerate(value):
            where = f"{key}[{i}]"
            if not isinstance(item, str):
                raise self.error(where, f"must be a string (got {kind_of(item)})")
            if not item:
                raise self.error(where, "must not be empty")
            if pattern is not None and not pattern.match(item):
                raise self.error(where, f"must match {pattern.pattern}")
        return value

    @overload
    def nested(self, key: str) -> Reader: ...
    @overload
    def nested(self, key: str, default: None) -> Reader | None: ...
    @overload
    def nested(self, key: str, default: Mapping[str, Any]) -> Reader: ...
    def nested(self, key: str, default: Any = REQUIRED) -> Reader | None:
        """The table/object at `key`, to read with its own getters (and its own `done()`)."""
        if self._absent(key, default):
            return None if default is None else Reader(default, self.at(key), self._error)
        return Reader(self._obj[key], self.at(key), self._error)

    def done(self) -> None:
        """Refuse the keys no getter asked for (a typo never falls back to a default)."""
        unknown = sorted(str(k) for k in self._obj if k not in self._seen)
        if unknown:
            shown = unknown[0] if _SAFE_KEY.match(unknown[0]) else "<field>"
            known = ", ".join(sorted(self._seen)) or "none"
            raise self.error(shown, f"unknown key; known: {known}")
