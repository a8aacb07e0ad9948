"""The first-party import graph: package layers, module cycles, imports inside functions.

Usage: ``python -m experiments.import_graph [--json] [--root REPO]``. Reads every ``.py``
file of the packages ``models``, ``policies``, ``sim`` and ``experiments`` with :mod:`ast`
(nothing is imported or run) and reports:

- the package-level edges with their counts (``sim -> models 25``), at module level and
  inside functions alike;
- imports that go *up* the layers ``models <- policies <- sim <- experiments`` (a lower
  package importing a higher one): there must be none;
- cycles between modules (strongly connected components of the module graph, counting
  imports at any level);
- first-party imports inside functions (allowed for optional heavy dependencies, but each
  is listed).

Exit code 1 when an upward import or a cycle exists (a test runs it).
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from models.cli import make_parser, run_main

LAYERS = ("models", "policies", "sim", "experiments")
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` (module names) at ``line``; ``nested``: in a function."""

    source: str
    target: str
    line: int
    nested: bool


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def file_edges(path: Path, modules: set[str], root: Path = ROOT) -> list[Edge]:
    """First-party imports of one file."""
    module = module_name(path, root)
    tree = ast.parse(path.read_text(), str(path))
    nested_nodes = {id(n) for f in ast.walk(tree)
                    if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                    for n in ast.walk(f) if n is not f}
    edges = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, path.name == "__init__.py")
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        targets = set()
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        if isinstance(node, ast.ImportFrom) and len(targets) > 1:
            targets.discard(_resolve(node, module, path.name == "__init__.py"))
        edges += [Edge(module, t, node.lineno, id(node) in nested_nodes) for t in targets]
    return edges


def all_edges(root: Path = ROOT) -> list[Edge]:
    files = [p for pkg in LAYERS for p in sorted((root / pkg).rglob("*.py"))]
    modules = {module_name(p, root) for p in files}
    return [e for p in files for e in file_edges(p, modules, root)]


def report(edges: list[Edge]) -> dict:
    """Package edges, upward imports, module cycles and nested imports."""
    rank = {pkg: i for i, pkg in enumerate(LAYERS)}
    pkg = Counter((e.source.split(".")[0], e.target.split(".")[0]) for e in edges
                  if e.source.split(".")[0] != e.target.split(".")[0])
    upward = [e for e in edges
              if rank[e.target.split(".")[0]] > rank[e.source.split(".")[0]]]
    g = nx.DiGraph((e.source, e.target) for e in edges)
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    return {
        "package_edges": {f"{a} -> {b}": n for (a, b), n in sorted(pkg.items())},
        "upward": [f"{e.source}:{e.line} -> {e.target}" for e in upward],
        "cycles": sorted(cycles),
        "nested": [f"{e.source}:{e.line} -> {e.target}" for e in edges if e.nested],
    }


def main(argv: list[str] | None = None) -> int:
    p = make_parser("python -m experiments.import_graph", __doc__, common=("json",))
    p.add_argument("--root", default=str(ROOT), help="repository to read (default: this one)")
    args = p.parse_args(argv)
    r = report(all_edges(Path(args.root).resolve()))
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print("package edges (imports at any level):")
        for k, n in r["package_edges"].items():
            print(f"  {k:<28}{n:>4}")
        print(f"upward imports (against {' <- '.join(LAYERS)}): {len(r['upward'])}")
        for line in r["upward"]:
            print(f"  {line}")
        print(f"module cycles: {len(r['cycles'])}")
        for c in r["cycles"]:
            print("  " + " <-> ".join(c))
        print(f"first-party imports inside functions: {len(r['nested'])}")
        for line in r["nested"]:
            print(f"  {line}")
    return 1 if r["upward"] or r["cycles"] else 0


if __name__ == "__main__":
    run_main(main)
