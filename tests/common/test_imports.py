"""`common` stands below every package: it imports the standard library and cryptography only.

Three modules are for the roles that hold a key in a PKCS#11 token (kiosk, fleet CA):
common/token.py, common/token_session.py and common/token_secret.py import python-pkcs11,
which those roles' extras install (tests/test_dependencies.py).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

COMMON = Path(__file__).resolve().parents[2] / "common"
ALLOWED = set(sys.stdlib_module_names) | {"common", "cryptography"}
ROLE_ONLY = {"token.py": {"pkcs11"}, "token_session.py": {"pkcs11"}, "token_secret.py": {"pkcs11"}}


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
                top = name.split(".")[0]
                if top not in ROLE_ONLY.get(module.name, set()):
                    found.setdefault(top, set()).add(module.name)
    assert found, "no imports found: wrong folder?"
    assert {top: files for top, files in found.items() if top not in ALLOWED} == {}
