"""`common` stands below every package: it imports the standard library and cryptography only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

COMMON = Path(__file__).resolve().parents[2] / "common"
ALLOWED = set(sys.stdlib_module_names) | {"common", "cryptography"}


def test_common_imports_only_the_standard_library_and_cryptography() -> None:
    found: dict[str, set[str]] = {}
    for module in sorted(COMMON.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(module.name)
    assert found, "no imports found: wrong folder?"
    assert {top: files for top, files in found.items() if top not in ALLOWED} == {}
