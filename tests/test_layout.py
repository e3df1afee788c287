"""The code's layout keeps the rules of the regroup (issue 14), so it does not drift back.

- no import cycle among the project's modules, lazy (in-function) imports counted;
- ``engine/`` imports neither ``app`` nor Qt, and names no ``app.*`` module;
- no folder of ``app/`` or ``engine/`` holds more than 14 modules (``__init__`` not counted);
- no source file over 450 lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "engine")
MAX_MODULES = 14
MAX_LINES = 450


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, modules: set[str]) -> set[str]:
    """Project modules ``path`` imports anywhere in its body (a package counts as its __init__)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            while target and target not in modules:  # `from pkg import name`: the package
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    paths = _sources()
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imported(p, modules) for p in paths}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    """The check below could fail: a made-up graph with a loop is caught."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "engine" / "x"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from engine.x import b\n    from . import c\n")
    for n in ("b", "c"):
        (pkg / f"{n}.py").write_text("")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    modules = {"engine.x", "engine.x.a", "engine.x.b", "engine.x.c"}
    assert _imported(pkg / "a.py", modules) == {"engine.x", "engine.x.b", "engine.x.c"}


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_engine_knows_neither_the_gui_nor_qt():
    offenders = []
    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom)
                else []
            )  # fmt: skip
            if any(n.split(".")[0] in ("app", "PySide6", "PyQt5", "PyQt6") for n in names):
                offenders.append(f"{path.relative_to(ROOT)} imports {names}")
        if re.search(r"[\"']app\.[a-z_]+", text):
            offenders.append(f"{path.relative_to(ROOT)} names an app.* module")
    assert offenders == []


def test_no_folder_holds_more_than_14_modules():
    crowded = {}
    for pkg in PACKAGES:
        for folder in [ROOT / pkg, *(d for d in (ROOT / pkg).rglob("*") if d.is_dir())]:
            n = len([p for p in folder.glob("*.py") if p.name != "__init__.py"])
            if n > MAX_MODULES:
                crowded[str(folder.relative_to(ROOT))] = n
    assert crowded == {}


def test_no_source_file_over_450_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _sources()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
