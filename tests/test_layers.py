"""The packages of src/ form floors: a module imports only from its own floor or lower ones, and no
two modules import each other, directly or through others (docs/en/architecture.md)."""
import ast
import os
from typing import Dict, Set

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Lowest first. Packages on one floor do not import each other.
FLOORS = [
    ["utils"],
    ["options", "transforms", "metrics"],
    ["proposals"],
    ["models"],
    ["config"],
    ["losses", "data", "infer"],
    ["tasks"],
    ["engine"],
    ["apis"],
    ["tools"],
    ["applications"],
    ["demo"],
]
FLOOR_OF = {package: level for level, packages in enumerate(FLOORS) for package in packages}


def _module_name(path: str) -> str:
    name = os.path.relpath(path, ROOT)[:-len(".py")].replace(os.sep, ".")
    return name[:-len(".__init__")] if name.endswith(".__init__") else name


def _imports(path: str, module: str) -> Set[str]:
    """The ``src.*`` modules ``path`` imports, at module level or inside functions."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
    return {name for name in found if name == "src" or name.startswith("src.")}


def source_modules() -> Dict[str, Set[str]]:
    graph = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "src")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = _module_name(path)
                graph[module] = _imports(path, module)
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


GRAPH = source_modules()


def test_every_package_has_a_floor():
    packages = {_package(module) for module in GRAPH} - {""}
    assert packages <= set(FLOOR_OF), f"packages without a floor: {sorted(packages - set(FLOOR_OF))}"


def test_no_import_runs_up_the_floors():
    upward = []
    for module, imported in GRAPH.items():
        here = FLOOR_OF.get(_package(module))
        for target in imported:
            there = FLOOR_OF.get(_package(target))
            if here is not None and there is not None and _package(target) != _package(module) and there >= here:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that run up (or across) the floors:\n" + "\n".join(sorted(upward))


def test_no_import_loop():
    edges = {module: imported & set(GRAPH) - {module} for module, imported in GRAPH.items()}
    state: Dict[str, int] = {}
    loops = []

    def visit(module, trail):
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                loops.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not loops, "import loops:\n" + "\n".join(loops)
