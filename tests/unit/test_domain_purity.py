"""domain/ holds rules only: it may import the standard library, itself and
eventsourcing.domain, nothing else (no I/O adapters, no other layer)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
ALLOWED_THIRD_PARTY = {"eventsourcing.domain"}
FORBIDDEN_STDLIB = {
    "os",
    "sqlite3",
    "socket",
    "subprocess",
    "threading",
    "time",
    "random",
    "secrets",
    "urllib",
    "http",
    "asyncio",
    "logging",
}


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_domain_imports_only_stdlib_and_eventsourcing_domain() -> None:
    offenders = []
    files = sorted(DOMAIN.rglob("*.py"))
    assert files, "domain/ has no modules"
    for path in files:
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top in ("domain", "__future__"):
                continue
            if name in ALLOWED_THIRD_PARTY:
                continue
            if top in sys.stdlib_module_names and top not in FORBIDDEN_STDLIB:
                continue
            offenders.append(f"{path.relative_to(DOMAIN.parent)}: {name}")
    assert offenders == []
