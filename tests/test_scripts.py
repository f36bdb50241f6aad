"""The developer scripts in scripts/ still name what the package holds (a reorganisation once broke five of them unseen).

Most of them need a GPU or an hour, so they are not run here; what can rot silently is
their imports from invertnet, and each of those is resolved.
"""

import ast
import importlib
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).parents[1] / "scripts").glob("*.py"))


def _invertnet_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every ``from invertnet... import names`` and ``import invertnet...`` in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "invertnet":
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name.split(".")[0] == "invertnet"]
    return found


def test_there_are_scripts():
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_a_scripts_imports_from_invertnet_exist(path):
    for module, names in _invertnet_imports(path):
        imported = importlib.import_module(module)
        missing = [name for name in names if not hasattr(imported, name)]
        assert not missing, f"{path.name}: {module} has no {', '.join(missing)}"
