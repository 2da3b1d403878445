"""The layer table of `docs/ARCHITECTURE.md`, kept true: every import in `src/wasmhive` points down it,
and no group of modules imports each other in a circle.

Imports are read from the source (ast), everywhere in a module: at the top, under `TYPE_CHECKING` and
inside functions alike (an import deferred into a function is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "wasmhive"

# Low to high: a module may import from a lower layer, or from its own package in its own layer.
# Packages that share a layer sit beside each other and must not import each other (http, contracts).
LAYERS: list[tuple[str, ...]] = [
    ("wasmhive.errors", "wasmhive._version"),
    ("wasmhive.appconfig",),
    ("wasmhive.runtime.",),  # the runtime's parts: engine, cache, limits, sandbox, loading, parsing
    ("wasmhive.component",),
    ("wasmhive.runtime", "wasmhive.runtime._runtime"),  # `Runtime`: its `component()` builds a Component
    ("wasmhive.wasi",),
    ("wasmhive.tee",),  # measurement, sealing, evidence: used by capabilities, http and the cli
    ("wasmhive.capabilities",),
    ("wasmhive.http", "wasmhive.contracts"),
    ("wasmhive.app", "wasmhive.canon"),
    ("wasmhive.server",),
    ("wasmhive.cli",),
    ("wasmhive",),  # the package root: public names, resolved lazily
]


def modules(src: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its `__init__.py`)."""
    out = {}
    for f in (src / package).rglob("*.py"):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def imports_of(name: str, path: Path, known: dict[str, Path]) -> dict[str, int]:
    """The package's modules that `name` imports, each with the line of its first import."""

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    base = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                b = base
                for _ in range(node.level - 1):
                    b = b.rpartition(".")[0]
                mod = f"{b}.{node.module}" if node.module else b
            else:
                mod = node.module or ""
            # `from pkg import x` needs `pkg` itself as well as a submodule `x`.
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            r = resolve(t)
            if r is not None and r != name and (r == PACKAGE or r.startswith(PACKAGE + ".")):
                out.setdefault(r, node.lineno)
    return out


def graph() -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    known = modules()
    return known, {m: imports_of(m, f, known) for m, f in known.items()}


def layer_of(module: str) -> tuple[int, str]:
    """(rank, layer key): the most specific entry of `LAYERS` that names the module or its package."""
    best: tuple[int, int, str] | None = None
    for rank, keys in enumerate(LAYERS):
        for key in keys:
            hit = module.startswith(key) if key.endswith(".") else module == key or module.startswith(key + ".")
            if hit and (best is None or len(key) > best[1]):
                best = (rank, len(key), key)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to docs/ARCHITECTURE.md)")
    return best[0], best[2]


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected components of 2 or more)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def package_of(module: str) -> str:
    """`wasmhive.<package>` (or the root itself)."""
    return ".".join(module.split(".")[:2])


def upward(known: dict[str, Path], edges: dict[str, dict[str, int]], src: Path = SRC) -> list[str]:
    """Every import that does not point down the table, as `file:line: a -> b (why)`."""
    out = []
    for a in sorted(edges):
        rank_a, _ = layer_of(a)
        for b, line in sorted(edges[a].items()):
            rank_b, key_b = layer_of(b)
            if rank_b < rank_a or (rank_b == rank_a and package_of(a) == package_of(b)):
                continue
            why = "beside it" if rank_b == rank_a else "above it"
            out.append(f"{known[a].relative_to(src)}:{line}: {a} -> {b} ({key_b} is {why})")
    return out


def test_no_import_circles() -> None:
    _, edges = graph()
    found = cycles(edges)
    assert not found, "import circles:\n" + "\n".join("  " + ", ".join(c) for c in found)


def test_every_import_points_down_the_layer_table() -> None:
    known, edges = graph()
    found = upward(known, edges)
    assert not found, "imports against the layer table:\n" + "\n".join("  " + f for f in found)


def test_every_module_is_in_a_layer() -> None:
    for module in modules():
        layer_of(module)


# The checks themselves, on a small package written here: they must see what they are for.
def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, dict[str, int]]:
    for rel, text in files.items():
        f = tmp_path / PACKAGE / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    known = modules(tmp_path)
    return {m: imports_of(m, f, known) for m, f in known.items()}


def test_a_circle_through_a_deferred_import_is_found(tmp_path: Path) -> None:
    edges = _package(tmp_path, {
        "__init__.py": "",
        "http/__init__.py": "from ._a import A\n",
        "http/_a.py": "def f():\n    from ._b import B\n",
        "http/_b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._a import A\n",
    })
    assert cycles(edges) == [["wasmhive.http._a", "wasmhive.http._b"]]


@pytest.mark.parametrize(("importer", "line", "bad"), [
    ("wasi/_x.py", "from ..http._types import Request", True),        # up
    ("http/_x.py", "from ..contracts._vm import VM", True),           # beside
    ("runtime/_engine.py", "from ._runtime import Runtime", True),    # the runtime's parts below `Runtime`
    ("runtime/_runtime.py", "from ..component._c import C", False),   # `Runtime` above the component layer
    ("app/_x.py", "from ..http._types import Request", False),        # down
])
def test_an_import_against_the_table_is_named(tmp_path: Path, importer: str, line: str, bad: bool) -> None:
    files = {"__init__.py": "", importer: line + "\n"}
    for pkg in ("wasi", "http", "contracts", "runtime", "component", "app"):
        files[f"{pkg}/__init__.py"] = ""
    for mod in ("http/_types.py", "contracts/_vm.py", "runtime/_runtime.py", "component/_c.py"):
        files.setdefault(mod, "")
    edges = _package(tmp_path, files)
    found = upward(modules(tmp_path), edges, tmp_path)
    assert bool(found) is bad, found
