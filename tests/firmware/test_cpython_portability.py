"""The firmware and its portable tests stay within what MicroPython 1.2x runs (CPython only:
reads the sources with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = sorted((ROOT / "firmware").glob("*.py"))
# CPython-only test modules say so by their names (test_cpython_*); the rest run on both.
PORTABLE_TESTS = sorted(
    p
    for p in (ROOT / "tests" / "firmware").glob("*.py")
    if p.name != "conftest.py" and not p.name.startswith("test_cpython_")
)
MICROPYTHON_MODULES = {"micropython", "hashlib", "struct", "json", "os", "gc", "sys", "binascii"}
MACHINE_MODULES = {"machine", "utime"}  # main.py only


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." if node.level else str(node.module))
    return names


def _unsupported(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.JoinedStr):
            found.append(f"f-string at line {line}")
        elif isinstance(node, ast.AnnAssign):
            found.append(f"variable annotation at line {line}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            every += [a for a in (args.vararg, args.kwarg) if a is not None]
            if node.returns is not None or any(a.annotation is not None for a in every):
                found.append(f"annotated function {node.name} at line {line}")
        elif isinstance(node, ast.Match | ast.TryStar | ast.NamedExpr):
            found.append(f"{type(node).__name__} at line {line}")
        elif isinstance(node, ast.Dict) and None in node.keys:
            found.append(f"dict unpacking at line {line}")
        elif isinstance(node, ast.Attribute) and node.attr in {"insert", "clear", "hexdigest"}:
            found.append(f".{node.attr}() at line {line} (missing on MicroPython bytearray/hash)")
        elif isinstance(node, ast.Delete) and any(
            isinstance(t, ast.Subscript) for t in node.targets
        ):
            found.append(f"del of an item or slice at line {line} (not on MicroPython bytearray)")
    return found


def test_firmware_imports_only_micropython_modules_and_itself() -> None:
    for path in FIRMWARE:
        imports = _imports(ast.parse(path.read_text(), str(path)))
        allowed = MICROPYTHON_MODULES | (MACHINE_MODULES if path.name == "main.py" else set())
        stray = {n for n in imports if n not in allowed and not n.startswith("firmware")}
        assert not stray, f"{path.name} imports {sorted(stray)}"


def test_firmware_uses_no_cpython_only_syntax() -> None:
    for path in FIRMWARE:
        assert not _unsupported(ast.parse(path.read_text(), str(path))), path.name


def test_portable_tests_import_only_firmware_and_their_helpers() -> None:
    assert len(PORTABLE_TESTS) >= 8
    for path in PORTABLE_TESTS:
        tree = ast.parse(path.read_text(), str(path))
        stray = {
            n
            for n in _imports(tree)
            if n not in MICROPYTHON_MODULES | MACHINE_MODULES
            and not n.startswith("firmware")
            and not n.startswith("tests.firmware")
        }
        assert not stray, f"{path.name} imports {sorted(stray)}"
        assert not _unsupported(tree), (path.name, _unsupported(tree))


def test_only_main_touches_machine() -> None:
    for path in FIRMWARE:
        uses = _imports(ast.parse(path.read_text())) & MACHINE_MODULES
        assert not uses or path.name == "main.py", path.name
