"""The layering of docs/architecture.md, checked by scanning the source's imports.

Layers: core (multidraft/ modules listed in ``CORE``) <- roles (reference/, fast/,
properties/) <- app (the rest of multidraft/). A module may import its own layer and the
layers below it; reference/ imports neither fast/ nor properties/. No module imports
another module's ``_private`` name, and no two public classes share a name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Source folder of each installed package (pyproject.toml's package-dir).
FOLDERS = {
    "multidraft": "multidraft",
    "multidraft.reference": "reference",
    "multidraft.fast": "fast",
    "multidraft.properties": "properties",
}

#: The core: validation, drafting laws, trees, exact evaluation, verifier protocols.
CORE = {
    "multidraft",
    "multidraft.validation",
    "multidraft.drafting",
    "multidraft.evaluate",
    "multidraft.verifiers",
    "multidraft.law_checks",
    "multidraft.trees",
}
ROLES = ("multidraft.reference", "multidraft.fast", "multidraft.properties")


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in FOLDERS.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if any(name == r or name.startswith(r + ".") for r in ROLES) and package == "multidraft":
                continue  # never: roles live in their own folders
            out[name] = path
    return out


MODULES = _modules()


def layer(module: str) -> str:
    """``"core"``, ``"reference"``/``"fast"``/``"properties"`` (roles) or ``"app"``."""
    for role in ROLES:
        if module == role or module.startswith(role + "."):
            return role.rsplit(".", 1)[1]
    if module in CORE:
        return "core"
    if module.startswith("multidraft"):
        return "app"
    return "external"


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    parts = package.split(".")
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path) -> list[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` of every import in the file,
    including those inside functions (a lazy import is still a dependency)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.extend((alias.name, None, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.append((sub, None, node.lineno) if sub in MODULES else (target, alias.name, node.lineno))
    return out


ALLOWED = {
    "core": {"core"},
    "reference": {"core", "reference"},
    "fast": {"core", "fast"},
    "properties": {"core", "reference", "fast", "properties"},
    "app": {"core", "reference", "fast", "properties", "app"},
}


def violations() -> list[str]:
    bad = []
    for module, path in MODULES.items():
        mine = layer(module)
        for target, name, line in imports(module, path):
            theirs = layer(target)
            if theirs == "external":
                continue
            where = f"{path}:{line}"
            if theirs not in ALLOWED[mine]:
                bad.append(f"{where}: {mine} module {module} imports {theirs} module {target}")
            if name and name.startswith("_") and not name.startswith("__") and target != module:
                bad.append(f"{where}: imports the private name {name} of {target}")
    return bad


def test_layer_classification_sees_every_layer():
    seen = {layer(m) for m in MODULES}
    assert seen == {"core", "reference", "fast", "properties", "app"}, seen
    assert layer("multidraft.cli") == "app" and layer("multidraft.evaluate") == "core"


def test_imports_point_from_app_to_roles_to_core():
    assert violations() == []


def test_the_scan_catches_a_violation(tmp_path, monkeypatch):
    fake = tmp_path / "evaluate.py"
    fake.write_text("from multidraft.reference import optimal_acceptance\nfrom .drafting import _private\n")
    monkeypatch.setitem(MODULES, "multidraft.evaluate", fake)
    found = violations()
    assert any("core module multidraft.evaluate imports reference" in v for v in found), found
    assert any("private name _private" in v for v in found), found


def _public_classes() -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for module, path in MODULES.items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                seen.setdefault(node.name, []).append(module)
    return seen


def test_no_two_public_classes_share_a_name():
    clashes = {name: where for name, where in _public_classes().items() if len(where) > 1}
    assert clashes == {}


@pytest.mark.parametrize("module", ["multidraft.evaluate", "multidraft.verifiers", "multidraft.examples"])
def test_issue_14_modules_are_scanned(module):
    assert module in MODULES
