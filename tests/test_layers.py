"""The layers: the library imports nothing above it, and no module imports itself back.

library (utilities/) <- model (models/) <- training (training/) and tools (tools/, local_evaluation.py,
benchmarks/) <- the front door (shopbench/: the console command, which runs them all). Every import
counts, those inside functions too (the front door imports its commands by name: shopbench.cli.COMMANDS).
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("utilities", "models", "training", "tools", "benchmarks", "shopbench")
# what each layer may import from the project (beyond itself)
ALLOWED = {
    "utilities": set(),
    "models": {"utilities"},
    "training": {"utilities", "models"},
    "tools": {"utilities", "models"},
    "benchmarks": {"utilities", "models", "training", "tools", "local_evaluation"},
    "local_evaluation": {"utilities", "models"},
    "shopbench": {"utilities", "models", "training", "tools", "benchmarks", "local_evaluation"},
}


def modules() -> dict[str, Path]:
    found = {"local_evaluation": REPO / "local_evaluation.py"}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (the longest known prefix of each imported name)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for imported in names:
            parts = imported.split(".")
            for k in range(len(parts), 0, -1):
                if ".".join(parts[:k]) in known:
                    out.add(".".join(parts[:k]))
                    break
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(path, name, set(found)) for name, path in found.items()}


def test_each_layer_imports_only_the_layers_below_it():
    wrong = []
    for name, targets in graph().items():
        layer = name.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != layer and other not in ALLOWED[layer]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_no_module_imports_itself_back():
    g = graph()
    cycles = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(g.get(node, ())):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles
