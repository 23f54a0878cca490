"""The floor plan, checked: layers point one way, no import cycles, no hidden package imports
inside functions, modules under 400 lines, every module tested, nothing done at import time."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "vcam_sharpen"

# Lower layers never import higher ones: CLI -> tools/daemon -> pipeline -> io/runtime/frames -> core.
# Folders of one rank may import each other only where listed in ALLOWED_SAME_RANK.
RANK = {"core": 0, "frames": 1, "io": 1, "runtime": 2, "pipeline": 3, "quality": 3, "web": 4, "daemon": 5,
        "tools": 6, "cli": 7}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """``{dotted name: file}`` of every module of the package (``__init__`` files as the package)."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(current: str, is_pkg: bool, node: ast.ImportFrom | ast.Import, known: set[str]) -> list[str]:
    """The package modules an import statement names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    base = current.split(".") if is_pkg else current.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not (target == "vcam_sharpen" or target.startswith("vcam_sharpen.")):
        return []
    out = []
    for alias in node.names:  # `from pkg import module` names a module; `from module import name` the module
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in known else target)
    return [m for m in out if m in known]


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """Edges between package modules, and the package imports found inside functions."""
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    local: list[tuple[str, int, str]] = []
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        is_pkg = path.name == "__init__.py"
        funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        inside = {id(n) for f in funcs for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = _resolve(name, is_pkg, node, known)
                graph[name].update(t for t in targets if t != name)
                if targets and id(node) in inside:
                    local.append((name, node.lineno, ", ".join(targets)))
    return graph, local


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    graph, _ = import_graph()
    assert len(graph) > 30
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_layers_point_one_way():
    graph, _ = import_graph()
    wrong = []
    for a, targets in graph.items():
        for b in targets:
            la, lb = layer(a), layer(b)
            if la is None or lb is None or la == lb:
                continue
            if RANK[lb] >= RANK[la]:
                wrong.append(f"{a} ({la}) imports {b} ({lb})")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_every_module_belongs_to_a_layer():
    loose = [m for m in modules() if m.count(".") >= 1 and layer(m) is None
             and m not in ("vcam_sharpen.__main__", "vcam_sharpen.weights")]
    assert not loose, f"modules outside the layers: {loose}"


def test_no_package_imports_inside_functions():
    _, local = import_graph()
    assert not local, "function-local imports of the package (import at the top instead):\n" + "\n".join(
        f"{m}:{line} imports {t}" for m, line, t in local)


@pytest.mark.parametrize("folder", ["vcam_sharpen", "train"])
def test_modules_stay_under_400_lines(folder):
    long = {str(p.relative_to(REPO)): n for p in (REPO / folder).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_every_module_is_tested():
    """Each module is imported by name in at least one test file (tests mirror the layout)."""
    known = set(modules())
    referenced: set[str] = set()
    for path in (REPO / "tests").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vcam_sharpen"):
                referenced.add(node.module)
                referenced.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                referenced.update(a.name for a in node.names)
    untested = sorted(m for m in known if m not in referenced
                      and not (modules()[m].name == "__init__.py" and not modules()[m].read_text().strip())
                      and m not in ("vcam_sharpen.__main__",))
    assert not untested, f"modules no test imports: {untested}"


def test_nothing_happens_at_import_time(tmp_path):
    """Importing every module creates no file or folder (no cache, config, runtime dir, download)."""
    env = dict(os.environ)
    for var in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
        d = tmp_path / var.lower()
        d.mkdir()
        env[var] = str(d)
    names = [m for m in modules() if m != "vcam_sharpen.__main__"]
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    r = subprocess.run([sys.executable, "-c", code, *names], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    created = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() or p.is_dir()]
    created = [c for c in created if c.count(os.sep) > 0 or not c.endswith(tuple(v.lower() for v in (
        "HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR")))]
    assert not created, f"files made at import time: {created}"
