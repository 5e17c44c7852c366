"""Every package the code imports is pinned in the requirements it installs with."""
import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from support import ROOT


def _pinned(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            names |= _pinned(path.parent / line[3:].strip())
        elif line:
            assert "==" in line, f"{path.name}: {line!r} is not pinned"
            names.add(_norm(line.split("==")[0]))
    return names


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imports(files) -> set[str]:
    """Top-level modules imported anywhere in the files, including imports inside functions."""
    found = set()
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    # support: tests/support; the benchmarks' scripts, which tests import by name
    local = {"vitspace", "app", "support", "conftest"} | {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    return {m for m in found if m not in sys.stdlib_module_names and m not in local}


@pytest.mark.parametrize("files, requirements", [
    ([ROOT / "app.py", *(ROOT / "vitspace").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")], "requirements.txt"),
    ([*(ROOT / "tests").rglob("*.py")], "requirements-dev.txt"),
])
def test_every_imported_package_is_pinned(files, requirements):
    dists = packages_distributions()
    pinned = _pinned(ROOT / requirements)
    missing = {m: dists.get(m) for m in _imports(files) if not {_norm(d) for d in dists.get(m, [m])} & pinned}
    assert not missing, f"imported but not in {requirements}: {missing}"
