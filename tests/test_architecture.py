"""The package's layers: every import goes down (or stays in its folder), never up. See docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "invertnet"
LEVELS = (
    ("errors", "version", "names"),
    ("devices", "precision", "treenames", "initialisation"),
    ("files",),
    ("encoders",),
    ("models", "data"),
    ("weights",),
    ("inversion",),
    ("evaluation", "synthesis"),
    ("decoded",),
    ("training",),
    ("demo", "bench"),
    ("cli", "__init__"),
    ("__main__",),
)
"""Bottom to top. A module may import from its own folder (or itself) and from units on lower lines only: not from a
unit on its own line (models and data know nothing of each other), never from one above."""
LEVEL = {unit: index for index, units in enumerate(LEVELS) for unit in units}


def _unit(module: str) -> str:
    """The folder or top-level module a dotted name (without ``invertnet.``) belongs to."""
    return module.split(".")[0] or "__init__"


def _imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, imported module within invertnet) for every import in ``path``, a module of the package at ``root``."""
    package = list(path.relative_to(root).parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            target = ".".join([*base, *([node.module] if node.module else [])])
            if node.module is None:  # from . import a, b: modules of that package
                found += [(node.lineno, ".".join([*base, alias.name])) for alias in node.names]
            else:
                found.append((node.lineno, target))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("invertnet"):
            found.append((node.lineno, node.module.removeprefix("invertnet").lstrip(".")))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.removeprefix("invertnet").lstrip(".")) for a in node.names if a.name.startswith("invertnet")]
    return found


def test_every_module_has_a_level():
    units = {_unit(".".join(path.relative_to(PACKAGE).with_suffix("").parts)) for path in PACKAGE.rglob("*.py")}
    assert units <= set(LEVEL), f"add {sorted(units - set(LEVEL))} to LEVELS"


def test_imports_flow_one_way():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = _unit(".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        for line, target in _imports(path):
            there = _unit(target)
            if there != here and LEVEL[there] >= LEVEL[here]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {target or 'invertnet'} ({here} may not import {there})")
    assert not upward, "\n".join(upward)


def test_the_check_reads_every_form_of_import(tmp_path):
    folder = tmp_path / "invertnet" / "models"
    folder.mkdir(parents=True)
    (folder / "bad.py").write_text("from ..training.loop import Trainer\nfrom . import vae\nfrom .generator import Generator\n"
                                   "import invertnet.data\nfrom invertnet.files import atomic_path\n")
    assert _imports(folder / "bad.py", tmp_path / "invertnet") == [
        (1, "training.loop"), (2, "models.vae"), (3, "models.generator"), (4, "data"), (5, "files")]
    assert LEVEL["training"] > LEVEL["models"]  # so the first is reported


def test_every_json_written_is_strict():
    """``json.dumps`` writes NaN and Infinity by default, which no other JSON parser reads: every call says allow_nan=False."""
    loose = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("dump", "dumps")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "json"):
                strict = any(k.arg == "allow_nan" and isinstance(k.value, ast.Constant) and k.value.value is False for k in node.keywords)
                if not strict:
                    loose.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not loose, f"json.dumps without allow_nan=False: {loose}"
