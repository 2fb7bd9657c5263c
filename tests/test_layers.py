"""The project's packages form layers and every import points down, at module and at function
level: networks < utils < datasets, losses < trainers < the applications (train.py,
benchmarks, demos), which never import each other. Tests are not part of the graph."""
import ast
import os
from typing import Dict, Iterator, Set, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYER = {"networks": 0, "utils": 1, "datasets": 2, "losses": 2, "trainers": 3,
         "train": 4, "benchmarks": 4, "demos": 4}
SKIP = {"tests", "docs", "pretrained", "cfgs", "build", "dist"}


def project_files() -> Iterator[Tuple[str, str]]:
    """(top-level package or 'train', path) of every project .py file outside tests/."""
    for name in sorted(os.listdir(REPO)):
        path = os.path.join(REPO, name)
        if name.endswith(".py") and name[:-3] in LAYER:
            yield name[:-3], path
        elif name in LAYER and os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
                for f in sorted(files):
                    if f.endswith(".py"):
                        yield name, os.path.join(folder, f)


def imported_packages(path: str) -> Set[str]:
    """Top-level project packages `path` imports anywhere (module level or inside functions);
    relative imports stay inside their own package."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in LAYER)
    return found


def package_graph() -> Dict[str, Dict[str, Set[str]]]:
    """package -> imported package -> the files that import it."""
    graph: Dict[str, Dict[str, Set[str]]] = {}
    for package, path in project_files():
        for target in imported_packages(path) - {package}:
            graph.setdefault(package, {}).setdefault(target, set()).add(os.path.relpath(path, REPO))
    return graph


def test_the_graph_is_read_from_the_files():
    graph = package_graph()
    assert "networks" in graph.get("utils", {})  # utils.inference builds the model
    assert "datasets" in graph.get("trainers", {})  # the trainer reads its data sets
    assert {p for p, _ in project_files()} == set(LAYER)


def test_every_import_points_down_a_layer():
    wrong = [f"{source} imports {target} ({', '.join(sorted(files))})"
             for source, targets in package_graph().items() for target, files in targets.items()
             if LAYER[target] >= LAYER[source]]  # siblings (datasets, losses; applications) too
    assert not wrong, "\n".join(wrong)


def test_the_package_graph_has_no_cycle():
    graph = {source: set(targets) for source, targets in package_graph().items()}
    state: Dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: Tuple[str, ...]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            assert state.get(target) != 1, "cycle: " + " -> ".join(path + (node, target))
            if target not in state:
                visit(target, path + (node,))
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, ())
