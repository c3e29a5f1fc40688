"""The package's shape: layers that point one way and no import circles (CONTRIBUTING.md, "Layers").

Every import of a module of `unlearn` is read with `ast`, at module top or inside a function (a lazy
import counts the same), and must go down the layer list below or stay inside its own layer; and no
module may reach itself again through imports, within a layer included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "unlearn"

LAYERS = [
    ("core", ["unlearn.core"]),
    ("config", ["unlearn.config", "unlearn.config_help"]),
    ("data", ["unlearn.data"]),
    ("models", ["unlearn.models"]),
    ("losses", ["unlearn.losses"]),
    ("methods", ["unlearn.methods"]),
    ("generate", ["unlearn.generate"]),
    ("eval", ["unlearn.eval"]),
    ("engine", ["unlearn.engine"]),
    ("report", ["unlearn.report"]),
    ("evidence", ["unlearn.evidence"]),
    ("api", ["unlearn.api"]),
    ("workflows", ["unlearn.demo", "unlearn.sweep"]),
    ("cli", ["unlearn.cli", "unlearn.__main__"]),
    ("package", ["unlearn"]),
]
"""Bottom to top: a module may import from its own layer and from the layers before it."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return best[0]


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """module -> {imported unlearn module: line of the first such import}."""
    modules = {module_name(p): p for p in package.rglob("*.py")}
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = name.split(".") if is_package else name.split(".")[:-1]
                    pkg = pkg[: len(pkg) - node.level + 1]
                    base = ".".join(pkg + ([node.module] if node.module else []))
                # `from unlearn.x import y`: unlearn.x.y when y is a module, else unlearn.x itself
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                targets = subs + ([base] if len(subs) < len(node.names) else [])
            for target in targets:
                # importing a.b.c runs the packages a.b (and a) first: their __init__ files are imported too,
                # unless the importer lives inside them (then they are already being imported). The root
                # package is left out: it imports the API lazily, on attribute access.
                parts = target.split(".")
                for depth in range(2, len(parts) + 1):
                    step = ".".join(parts[:depth])
                    inside = name.startswith(step + ".") and depth < len(parts)
                    if parts[0] == "unlearn" and step in modules and step != name and not inside:
                        edges.setdefault(step, node.lineno)
        graph[name] = edges
    return graph


def test_the_layer_list_is_ordered_and_covers_every_module():
    graph = import_graph()
    assert len(graph) > 50  # the whole package was read
    for module in graph:
        layer_of(module)


def test_imports_go_down_the_layers():
    upward = [f"{m} (layer {LAYERS[layer_of(m)][0]}) imports {t} (layer {LAYERS[layer_of(t)][0]}), line {line}"
              for m, edges in sorted(import_graph().items()) for t, line in sorted(edges.items())
              if layer_of(t) > layer_of(m)]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that reach each other (circles), largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups, key=len, reverse=True)


def test_no_import_circles():
    circles = strongly_connected(import_graph())
    assert not circles, "modules that import each other (directly or through others):\n" + \
        "\n".join(" <-> ".join(c) for c in circles)


@pytest.mark.parametrize("source, upward, circle", [
    ({"core/a.py": "from unlearn.eval import b\n", "eval/b.py": ""}, True, False),
    ({"core/a.py": "def f():\n    from unlearn.eval.b import x\n", "eval/b.py": "x = 1\n"}, True, False),
    ({"eval/a.py": "from unlearn.core import b\n", "core/b.py": ""}, False, False),
    ({"eval/a.py": "import unlearn.eval.b\n", "eval/b.py": "def f():\n    import unlearn.eval.a\n"}, False, True),
    # a circle through a package's __init__: importing eval.r runs eval/m/__init__, which imports t -> r
    ({"eval/m/__init__.py": "from unlearn.eval.m import t\n", "eval/m/t.py": "import unlearn.eval.r\n",
      "eval/r.py": "from unlearn.eval.m.u import x\n", "eval/m/u.py": "x = 1\n"}, False, True),
])
def test_the_checks_catch_what_they_claim(tmp_path, source, upward, circle):
    """The checker itself, on made-up packages: a lazy upward import is found, a circle through a
    function-level import is found, a downward import is allowed."""
    root = tmp_path / "unlearn"
    for rel, text in source.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    (root / "__init__.py").touch()
    global PACKAGE
    saved, PACKAGE = PACKAGE, root
    try:
        graph = import_graph(root)
    finally:
        PACKAGE = saved
    found_upward = any(layer_of(t) > layer_of(m) for m, edges in graph.items() for t in edges)
    assert found_upward is upward
    assert bool(strongly_connected(graph)) is circle
