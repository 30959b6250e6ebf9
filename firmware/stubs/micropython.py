"""CPython stand-in for MicroPython's micropython module (const and the code emitters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])


def const(value: _T) -> _T:
    """Return value (MicroPython folds it into the bytecode)."""
    return value


def native(func: _F) -> _F:
    """Return func unchanged (MicroPython compiles it to machine code)."""
    return func


def viper(func: _F) -> _F:
    """Return func unchanged (MicroPython's viper emitter)."""
    return func


def bytecode(func: _F) -> _F:
    """Return func unchanged."""
    return func


def alloc_emergency_exception_buf(size: int) -> None:
    """Do nothing: CPython needs no emergency buffer."""


def schedule(func: Callable[[Any], object], arg: Any) -> None:
    """Run func(arg) now (MicroPython defers it to the main loop)."""
    func(arg)


def opt_level(level: int | None = None) -> int | None:
    """Pretend to set the optimisation level."""
    return 0 if level is None else None
