"""The package's import structure: every module imports on its own, the import graph has no circle, and
only the Ray wiring imports Ray.

The graph is read with ``ast`` from the source, imports inside functions included (a circle held
together by an import inside a function is still a circle).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dcai"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import statement of the file, at any depth."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            out.append((base, node.lineno))
            out += [(f"{base}.{a.name}", node.lineno) for a in node.names]  # from pkg import module
    return out


def _graph() -> dict[str, set[str]]:
    """dcai module → the dcai modules it imports (a package's ``__init__`` counts as the package)."""
    return {m: {name for name, _ in _imports(p) if name in MODULES and name != m} for m, p in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        path.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_import_graph_has_no_circle():
    cycle = _cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


# The Ray wiring: each stage's pipeline.py (dcai/train/pipeline.py too) and the runtime set-up.
RAY_WIRING = {m for m in MODULES if m.endswith(".pipeline") and m != "dcai.pipeline"} | {"dcai.ray_runtime"}


def test_only_the_ray_wiring_imports_ray():
    found = [
        f"{p.relative_to(ROOT)}:{line} imports {name}"
        for m, p in MODULES.items()
        if m not in RAY_WIRING
        for name, line in _imports(p)
        if name == "ray" or name.startswith("ray.")
    ]
    assert not found, "Ray outside a stage's pipeline.py / dcai.ray_runtime:\n" + "\n".join(found)


CHILD = """
import importlib, json, sys, traceback
failed = {}
for name in json.loads(sys.argv[1]):
    for m in [m for m in sys.modules if m == "dcai" or m.startswith("dcai.")]:
        del sys.modules[m]
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=3)
print(json.dumps(failed))
"""


def test_every_module_imports_on_its_own():
    """Each module imported first, with no other dcai module loaded: a missing import or an order-dependent
    circle fails here even where the test suite's import order hides it."""
    names = sorted(m for m in MODULES if m != "dcai.__main__")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(names)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    failed = json.loads(out.stdout.strip().splitlines()[-1])
    assert not failed, "\n".join(f"{m}:\n{tb}" for m, tb in failed.items())
