"""Each role installs what it imports: the extras of pyproject.toml against the code's imports.

A role's code is its packages and every module of ours they import (followed module by module);
its third-party imports must be among the base dependencies and the role's extra, and its extra
must hold nothing the role does not import. The development extra pulls every role.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
BASE_PACKAGES = ("protocol", "common")  # every role: stdlib and the base dependencies only
# Modules of the base packages that only some roles use: their imports count for those roles
# (followed from the roles' code), not for the base. PKCS#11 tokens: the kiosk and the device CA.
ROLE_ONLY_MODULES = ("common.token", "common.token_secret")
ROLES = {
    "kiosk": ("edge_agent", "hardware", "provisioning"),
    "gateway": ("gateway",),
    "fleet": ("fleet",),
}
DEV_EXTRA = "test"
NOT_CPYTHON = ("firmware",)  # MicroPython on the MCU: its own modules and stubs


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for req in requirements:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)
        assert match is not None, req
        names.add(_normal(match.group(0)))
    return names


BASE = _requirement_names(PROJECT["dependencies"])
EXTRAS = {name: _requirement_names(reqs) for name, reqs in PROJECT["optional-dependencies"].items()}


def _module_path(module: str) -> Path | None:
    """The file of one of our modules (None if it is not ours)."""
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _ours(top: str) -> bool:
    return (ROOT / top / "__init__.py").is_file() or (ROOT / f"{top}.py").is_file()


@cache
def _imports(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(our modules, third-party top-level names) that one file imports."""
    ours: set[str] = set()
    third: set[str] = set()
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                module = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if not _ours(top):
                third.add(top)
                continue
            parts = name.split(".")
            for n in range(1, len(parts) + 1):  # a module runs its parent packages too
                if _module_path(".".join(parts[:n])) is not None:
                    ours.add(".".join(parts[:n]))
    return frozenset(ours), frozenset(third)


def third_party_of(packages: Iterable[str], skip: Iterable[str] = ()) -> dict[str, set[str]]:
    """Third-party top-level imports of these packages and all of ours they import: name -> who.

    Modules named in `skip` are neither read nor followed.
    """
    todo = [p for pkg in packages if (ROOT / pkg).is_dir() for p in (ROOT / pkg).rglob("*.py")]
    skipped = {_module_path(m) for m in skip}
    todo = [p for p in todo if p not in skipped]
    seen: set[Path] = set()
    found: dict[str, set[str]] = {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        ours, third = _imports(path)
        for top in third:
            found.setdefault(top, set()).add(_module_name(path))
        for module in ours:
            found_path = _module_path(module)
            if found_path is not None and found_path not in skipped:
                todo.append(found_path)
    return found


def distributions(tops: Iterable[str]) -> set[str]:
    """The installed distributions that provide these top-level import names."""
    provided = packages_distributions()
    names: set[str] = set()
    for top in tops:
        if top not in provided:
            pytest.fail(f"{top} is imported but no installed distribution provides it")
        names.update(_normal(d) for d in provided[top])
    return names


def _needs(packages: Iterable[str], skip: Iterable[str] = ()) -> set[str]:
    return distributions(third_party_of(packages, skip))


def test_the_base_packages_need_only_the_base_dependencies() -> None:
    needed = _needs(BASE_PACKAGES, skip=ROLE_ONLY_MODULES)
    assert needed <= BASE
    assert needed == BASE, "a base dependency that no base package imports"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_imports_only_its_extra(role: str) -> None:
    needed = _needs(ROLES[role])
    missing = needed - BASE - EXTRAS[role]
    assert not missing, f"[{role}] imports {sorted(missing)} (add them to its extra)"
    unused = EXTRAS[role] - needed
    assert not unused, f"[{role}] lists {sorted(unused)} that its code does not import"


def test_the_development_extra_pulls_every_role() -> None:
    own = _normal(PROJECT["name"])
    pulled = [
        req for req in PROJECT["optional-dependencies"][DEV_EXTRA] if _normal(req).startswith(own)
    ]
    assert len(pulled) == 1, "the development extra names the project with every role's extra"
    roles = re.search(r"\[([^\]]*)\]", pulled[0])
    assert roles is not None
    assert {r.strip() for r in roles.group(1).split(",")} == set(ROLES)


def test_every_package_is_covered_by_the_development_install() -> None:
    """The simulators, the harness and everything else import only what `.[test]` installs."""
    everything = BASE.union(*EXTRAS.values())
    tops = [p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in NOT_CPYTHON]
    tops = [t for t in tops if t not in ("tests", "bench")]
    assert _needs(tops) <= everything


def test_one_version_range_per_dependency() -> None:
    """A dependency listed in several extras has the same range in each."""
    ranges: dict[str, set[str]] = {}
    for req in [
        *PROJECT["dependencies"],
        *(r for rs in PROJECT["optional-dependencies"].values() for r in rs),
    ]:
        name = next(iter(_requirement_names([req])))
        ranges.setdefault(name, set()).add(req.replace(" ", ""))
    assert {name: r for name, r in ranges.items() if len(r) > 1} == {}
