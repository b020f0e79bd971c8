"""The layering rule of DESIGN.md and the house rules that keep the code readable.

* no import arrow runs upward (the import graph, networkx), and solvers and relaxations
  stay ignorant of what is above them;
* no dynamic imports (``importlib``, ``__import__``) that the graph could not see;
* no module uses another module's private (``_name``) names;
* pyflakes finds nothing;
* modules stay under ~400 lines and functions under ~80.
"""

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("verifier", "solvers")
# each layer may import only layers listed before it (and itself)
LAYERS = ["solvers", "verifier.errors", "verifier.files", "verifier.threads", "verifier.catalog",
          "verifier.network", "verifier.spec", "verifier.witness", "verifier.bounds", "verifier.relaxations",
          "verifier.encode", "verifier.lp", "verifier.tighten", "verifier.methods",
          "verifier.verify", "verifier.report", "verifier.plot", "verifier.data",
          "verifier.batch", "verifier.cli"]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


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


def package_files():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def parsed():
    for path in package_files():
        yield path, module_name(path), ast.parse(path.read_text())


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for _, source, tree in parsed():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                graph.add_edge(source, node.module)
                for alias in node.names:         # `from package import module`
                    graph.add_edge(source, f"{node.module}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    graph.add_edge(source, alias.name)
    return graph


def test_every_package_module_has_a_layer():
    unknown = [name for _, name, _ in parsed() if name != "verifier" and layer_of(name) is None]
    assert not unknown, f"add these to LAYERS: {unknown}"


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


def test_no_dynamic_imports():
    found = []
    for path, name, tree in parsed():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names]
                module = getattr(node, "module", None) or ""
                if "importlib" in names or module.startswith("importlib"):
                    found.append(f"{name}:{node.lineno} imports importlib")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == "__import__"):
                found.append(f"{name}:{node.lineno} calls __import__")
    assert not found, "; ".join(found)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_names_across_modules():
    found = []
    for _, source, tree in parsed():
        modules = set()           # names bound to imported modules of this project
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if _private(alias.name) and node.module != source:
                        found.append(f"{source} imports {node.module}.{alias.name}")
                    if node.module.split(".")[0] in PACKAGES:
                        modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{source} imports {alias.name}")
                    if alias.name.split(".")[0] in PACKAGES:
                        modules.add(alias.asname or alias.name.split(".")[0])
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and _private(node.attr)
                    and isinstance(node.value, ast.Name) and node.value.id in modules):
                found.append(f"{source} uses {node.value.id}.{node.attr}")
    assert not found, "; ".join(found)


def test_pyflakes_finds_nothing():
    api = pytest.importorskip("pyflakes.api")
    reporter_module = pytest.importorskip("pyflakes.reporter")
    import io
    out = io.StringIO()
    reporter = reporter_module.Reporter(out, out)
    count = sum(api.checkPath(str(path), reporter) for path in package_files())
    assert count == 0, out.getvalue()


def test_modules_and_functions_stay_small():
    too_big = []
    for path, name, tree in parsed():
        lines = path.read_text().count("\n")
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{name}: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{name}.{node.name}: {length} lines")
    assert not too_big, "; ".join(too_big)
