"""Zero storage: the canary scan (common/canary.py) of every store, log and broker persistence,
and NIK-shaped numbers in the logs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from common.canary import files_under, scan_tree
from fleet.evidence.model import Result, failed, passed, skipped
from protocol.nik import is_valid_nik

_NIK_SHAPE = re.compile(rb"(?<![0-9])[0-9]{16}(?![0-9])")
MAX_LOG_BYTES = 64 << 20  # the NIK-shape scan reads at most this much of one log
_FIX = (
    "Hapus data pribadi dari berkas tersebut dan perbaiki sumbernya (tingkat log, format log, "
    "penyimpanan) / Remove the personal data from those files and fix what wrote it (log "
    "level, log format, what the service stores)"
)


class CanaryFileError(ValueError):
    """The canaries file cannot be read."""


def read_canaries(path: Path) -> dict[str, str]:
    """The canaries file: label = "value" (TOML); labels are printed, values never."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise CanaryFileError(f"{path}: {type(err).__name__}") from err
    out = {}
    for label, value in data.items():
        if not isinstance(value, str) or len(value.encode()) < 6:
            raise CanaryFileError(f"{path}: {label} must be a string of 6 bytes or more")
        out[label] = value
    return out


def _is_log(path: Path) -> bool:
    return ".log" in path.name or path.parent.name in ("log", "logs")


def nik_shaped(files: list[Path]) -> list[str]:
    """Logs holding a well-formed NIK (file and offset; never the number)."""
    hits = []
    for path in files:
        if not _is_log(path):
            continue
        try:
            with path.open("rb") as f:
                data = f.read(MAX_LOG_BYTES)
        except OSError:
            continue
        for m in _NIK_SHAPE.finditer(data):
            if is_valid_nik(m.group().decode()):
                hits.append(f"{path}: a NIK-shaped number at {m.start()}")
    return hits


def check_storage(scan: tuple[Path, ...], canaries: Path | None) -> Result:
    """The zero-storage duty."""
    if not scan:
        return skipped(
            "storage",
            "no folders to scan: list the stores, logs and broker persistence in [evidence] scan",
        )
    missing = [str(p) for p in scan if not p.exists()]
    skip = None if canaries is None else canaries.resolve()
    files = [f for f in files_under([p for p in scan if p.exists()]) if f.resolve() != skip]
    needles: dict[str, str] = {}
    if canaries is not None:
        try:
            needles = read_canaries(canaries)
        except CanaryFileError as err:
            return failed(
                "storage",
                f"the canaries file cannot be read: {err}",
                "Perbaiki berkas canary ([evidence] canaries) / Fix the canaries file",
            )
    hits = [str(h) for h in scan_tree(files, needles)] if needles else []
    hits += nik_shaped(files)
    facts = {"files": len(files), "canaries": sorted(needles), "folders_missing": missing}
    if hits:
        shown = hits[:20] + ([f"... {len(hits) - 20} more"] if len(hits) > 20 else [])
        return failed("storage", "personal data found: " + "; ".join(shown), _FIX, **facts)
    how = f"{len(needles)} canaries" if needles else "no canaries file: NIK shapes in logs only"
    note = f" ({len(missing)} folders absent: {', '.join(missing)})" if missing else ""
    return passed("storage", f"{len(files)} files scanned, {how}: nothing found{note}", **facts)
