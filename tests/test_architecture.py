"""The shape of the house: imports run one way, and no module grows past a readable size."""
import ast
import re
from pathlib import Path

import pytest
from support import ROOT

PACKAGE = ROOT / "vitspace"
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom, modules) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        anchor = parts if is_package else parts[:-1]
        anchor = anchor[:len(anchor) - node.level + 1]
        base = ".".join(anchor + ([node.module] if node.module else []))
    # `from . import atomic` names a module; `from .export import VARIANTS` names a package's attribute
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):  # imports inside functions too
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = _resolve(name, path.name == "__init__.py", node, modules)
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_vitspace_modules():
    assert _cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_registry_is_a_leaf_that_resolving_a_name_imports():
    graph = import_graph()
    assert "vitspace.models.resolve" in graph["vitspace.models.factory"]
    assert "vitspace.models.registry" in graph["vitspace.models.resolve"]
    assert not graph["vitspace.models.registry"] & {"vitspace.models.resolve", "vitspace.models.loading",
                                                     "vitspace.models.factory", "vitspace.classify.classifier"}


def commands() -> set[str]:
    """The modules that are commands: each package's __main__, and a second verb's module (`main` under a
    `__name__ == "__main__"` guard, as `python -m vitspace.card.publish`)."""
    found = set()
    for name, path in {_module_name(p): p for p in PACKAGE.rglob("*.py")}.items():
        text = path.read_text()
        if path.name == "__main__.py" or 'if __name__ == "__main__":' in text:
            found.add(name)
    return found


def test_commands_are_at_the_top_of_the_imports():
    """No library module imports the app or a command: imports run from the commands down to the library."""
    graph, cmds = import_graph(), commands()
    assert {"vitspace.models.__main__", "vitspace.compress.__main__", "vitspace.card.publish"} <= cmds
    offenders = {m: sorted(graph[m] & cmds) for m in graph if m not in cmds and graph[m] & cmds}
    assert offenders == {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module}
        assert "app" not in names, f"{path} imports the app"


def test_the_checks_see_a_library_module_importing_a_command():
    graph = {"vitspace.x.lib": {"vitspace.x.__main__"}, "vitspace.x.__main__": {"vitspace.x.lib"}}
    cmds = {"vitspace.x.__main__"}
    assert {m: sorted(graph[m] & cmds) for m in graph if m not in cmds and graph[m] & cmds} == {
        "vitspace.x.lib": ["vitspace.x.__main__"]}


def test_the_package_has_at_most_12_entries_at_its_top():
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 12, sorted(entries)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_450_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


README_COMMANDS = sorted(set(re.findall(r"python -m (vitspace[\w.]*)", (PACKAGE.parent / "README.md").read_text())))


def test_the_readme_names_commands():
    assert {"vitspace.compress", "vitspace.bench", "vitspace.train"} <= set(README_COMMANDS)


@pytest.mark.slow
@pytest.mark.parametrize("command", README_COMMANDS)
def test_every_command_the_readme_names_starts(command):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", command, "--help"],
                          cwd=PACKAGE.parent, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and f"python -m {command}" in proc.stdout, proc.stderr[-2000:]
