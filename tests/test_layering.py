"""The layering rule of DESIGN.md: no import arrow runs upward."""

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
# each layer may import only layers listed before it (and itself)
LAYERS = ["solvers", "verifier.errors", "verifier.network", "verifier.spec", "verifier.bounds",
          "verifier.relaxations", "verifier.encode", "verifier.verify", "verifier.report",
          "verifier.plot", "verifier.data", "verifier.batch", "verifier.cli"]


def layer_of(module: str) -> int | None:
    best = None
    for k, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            best = k
    return best


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for package in ("verifier", "solvers"):
        for path in (ROOT / package).rglob("*.py"):
            source = module_name(path)
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    graph.add_edge(source, node.module)
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        graph.add_edge(source, alias.name)
    return graph


def test_no_import_runs_upward():
    upward = []
    for source, target in import_graph().edges:
        a, b = layer_of(source), layer_of(target)
        if a is None or b is None or source == "verifier":
            continue
        if b > a:
            upward.append(f"{source} -> {target}")
    assert not upward, "imports against the layering: " + "; ".join(upward)


def test_solvers_know_nothing_of_networks():
    for source, target in import_graph().edges:
        if source.startswith("solvers"):
            assert not target.startswith("verifier"), f"{source} imports {target}"


def test_relaxations_import_no_solver():
    for source, target in import_graph().edges:
        if source.startswith("verifier.relaxations"):
            assert not target.startswith("solvers") and "highspy" not in target, \
                f"{source} imports {target}"
