"""The package's imports go one way (docs/layers.md): each module imports only
from its own layer or the layers below, and no chain of imports, function-local
ones included, comes back to where it started."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cosmojax"

# Lowest first. A module belongs to the layer of its longest matching prefix.
LAYERS = (
    ("base", ("configlib", "files", "locks", "console")),
    ("data and evaluation", ("data", "evaluation", "images", "upscale")),
    ("models", ("models",)),
    ("train", ("train",)),
    ("tasks", ("tasks",)),
    (
        "faces",
        ("restore", "sampling", "scoring", "training", "generate", "predict", "evaluate", ""),
    ),
    ("command line", ("cli",)),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """The package modules ``path`` imports, wherever the import statement is."""
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py")


def imports_in(source: str, me: str, is_package: bool = False) -> set[str]:
    """The package modules that module ``me`` with this ``source`` imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cosmojax")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = me if is_package else me.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}".strip(".")
            if not base.startswith("cosmojax"):
                continue
            for a in node.names:
                found.add(f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base)
    return found - {me}


def layer_of(module: str) -> int:
    rel = module.removeprefix("cosmojax").lstrip(".")
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if rel == p or (p and rel.startswith(p + ".")) or (not p and rel == ""):
                if best is None or len(p) > best[1]:
                    best = (rank, len(p))
    assert best is not None, f"{module} has no layer in tests/test_layers.py"
    return best[0]


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` as a list of modules, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        path.pop()
        return None

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_module_imports_from_a_layer_above_it():
    upward = [
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {n} ({LAYERS[layer_of(n)][0]})"
        for m, deps in graph().items()
        for n in deps
        if layer_of(n) > layer_of(m)
    ]
    assert not upward, "\n".join(upward)


def test_imports_have_no_cycle():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()))


def test_the_checks_see_local_imports_cycles_and_upward_edges():
    source = "def f():\n    from cosmojax import cli\n    from . import layout, nothing\n"
    got = imports_in(source, "cosmojax.data.sky")
    assert got == {"cosmojax.cli", "cosmojax.data.layout", "cosmojax.data"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert layer_of("cosmojax.tasks.gan") > layer_of("cosmojax.train.loop")
    assert layer_of("cosmojax.cli") > layer_of("cosmojax.generate")
