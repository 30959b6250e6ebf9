"""Canary scanner: search files for personal-data canaries in plain and encoded forms (the tests'
privacy scans and `kiosk-fleet evidence` share it).

`scan_tree(paths, needles)` walks files and directories and reports every place a needle
occurs as plain bytes (also lower- and title-case), hex (lower and upper), base64 and base64url
at any alignment, UTF-16 (LE and BE), and inside gzip files. Hits name the needle's label,
never its value, so a failing test does not print the data it protects.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

MIN_NEEDLE = 6


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence: file, needle label, encoding form, byte offset."""

    path: Path
    label: str
    form: str
    offset: int

    def __str__(self) -> str:
        return f"{self.path}: {self.label} ({self.form}) at {self.offset}"


def _b64_forms(raw: bytes, alphabet: str) -> list[bytes]:
    """The part of the base64 text fully determined by `raw`, for the 3 possible alignments."""
    encode = base64.b64encode if alphabet == "std" else base64.urlsafe_b64encode
    out = []
    for pad in range(3):
        text = encode(b"\0" * pad + raw)
        skip = -(-8 * pad // 6)  # characters that carry bits of the padding bytes
        keep = 8 * (pad + len(raw)) // 6  # characters fully inside the data
        out.append(text[skip:keep])
    return out


def needle_forms(value: str | bytes) -> dict[str, list[bytes]]:
    """Every encoded form searched for one needle."""
    text = value if isinstance(value, str) else value.decode("utf-8", "replace")
    raw = value.encode() if isinstance(value, str) else value
    if len(raw) < MIN_NEEDLE:
        raise ValueError(f"needles must be at least {MIN_NEEDLE} bytes to be meaningful")
    forms: dict[str, list[bytes]] = {
        "plain": [raw],
        "lower": [text.lower().encode()],
        "title": [text.title().encode()],
        "hex": [raw.hex().encode()],
        "HEX": [raw.hex().upper().encode()],
        "base64": _b64_forms(raw, "std"),
        "base64url": _b64_forms(raw, "url"),
        "utf-16-le": [text.encode("utf-16-le")],
        "utf-16-be": [text.encode("utf-16-be")],
    }
    seen: set[bytes] = set()
    out: dict[str, list[bytes]] = {}
    for name, found in forms.items():
        fresh = [f for f in found if f and f not in seen]
        seen.update(fresh)
        if fresh:
            out[name] = fresh
    return out


def _labelled(needles: Mapping[str, str | bytes] | Iterable[str | bytes]) -> dict[str, str | bytes]:
    if isinstance(needles, Mapping):
        return dict(needles)
    return {f"needle #{i}": n for i, n in enumerate(needles)}


def scan_bytes(
    data: bytes, needles: Mapping[str, str | bytes] | Iterable[str | bytes]
) -> list[tuple[str, str, int]]:
    """(label, form, offset) of every occurrence in a byte string."""
    hits = []
    for label, value in _labelled(needles).items():
        for form, patterns in needle_forms(value).items():
            for pattern in patterns:
                at = data.find(pattern)
                while at >= 0:
                    hits.append((label, form, at))
                    at = data.find(pattern, at + 1)
    return sorted(set(hits))


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_symlink():
            continue
        if path.is_dir():
            yield from _files(sorted(path.iterdir()))
        elif path.is_file():
            yield path


def scan_tree(
    paths: Iterable[Path], needles: Mapping[str, str | bytes] | Iterable[str | bytes]
) -> list[Hit]:
    """Every occurrence of every needle in every file under the paths (gzip files unpacked)."""
    labelled = _labelled(needles)
    hits: list[Hit] = []
    for path in _files(paths):
        data = path.read_bytes()
        for label, form, offset in scan_bytes(data, labelled):
            hits.append(Hit(path, label, form, offset))
        if data[:2] == b"\x1f\x8b":
            try:
                inner = gzip.decompress(data)
            except (OSError, EOFError, zlib.error):
                continue
            for label, form, offset in scan_bytes(inner, labelled):
                hits.append(Hit(path, label, f"gzip/{form}", offset))
    return hits


def files_under(paths: Iterable[Path]) -> list[Path]:
    """The files scan_tree would read (to show a scan was not empty)."""
    return list(_files(paths))
