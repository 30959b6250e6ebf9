"""The RP2040 image: every firmware module cross-compiled by mpy-cross -march=armv6m, and the
files docs/supervisor-mcu.md tells a technician to flash are the files the build makes (CPython
only: drives mpy-cross)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from simulators.mcu.image import FIRMWARE_DIR, ImageError, build_image, image_files

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "supervisor-mcu.md"


def _made(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())


def test_every_module_is_cross_compiled_and_main_stays_source(tmp_path: Path) -> None:
    made = build_image(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in made) == sorted(image_files())
    assert _made(tmp_path) == sorted(image_files())
    modules = {p.stem for p in FIRMWARE_DIR.glob("*.py")} - {"main"}
    assert {Path(n).stem for n in image_files() if n.endswith(".mpy")} == modules
    mpy = (tmp_path / "firmware" / "link.mpy").read_bytes()
    assert mpy[:1] == b"M" and mpy[1] == 6  # .mpy format version 6
    assert mpy[3] == 31  # made for 31-bit small ints: the RP2040's 32-bit core
    assert (tmp_path / "main.py").read_bytes() == (FIRMWARE_DIR / "main.py").read_bytes()


def test_a_rebuild_leaves_no_stale_module(tmp_path: Path) -> None:
    (tmp_path / "firmware").mkdir()
    (tmp_path / "firmware" / "gone.mpy").write_bytes(b"M")
    build_image(tmp_path)
    assert not (tmp_path / "firmware" / "gone.mpy").exists()


def test_syntax_micropython_lacks_fails_the_build(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(FIRMWARE_DIR / "main.py", source / "main.py")
    match_statement = "def f(x):\n    match x:\n        case 1:\n            return 1\n"
    (source / "bad.py").write_text(match_statement)
    with pytest.raises(ImageError, match=r"firmware/bad\.py does not cross-compile"):
        build_image(tmp_path / "out", source)


def test_the_flashing_guide_names_the_files_the_build_makes(tmp_path: Path) -> None:
    text = DOC.read_text()
    listed = re.search(r"<!-- image files -->\n```\n(.*?)```", text, re.S)
    assert listed is not None, "docs/supervisor-mcu.md lists the image's files"
    assert listed.group(1).split() == image_files()
    assert "mpremote" in text and "-march=armv6m" in text
    build_image(tmp_path)
    copied: list[str] = []
    for command in re.findall(r"^mpremote .*$", text, re.M):
        for local in re.findall(r"\bbuild/mcu/(\S+)", command):
            matches = sorted(tmp_path.glob(local))
            assert matches, command
            copied += [str(p.relative_to(tmp_path)) for p in matches]
    assert sorted(copied) == sorted(image_files())  # the commands copy the whole image
