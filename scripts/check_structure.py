"""Check the project's shape: no import cycles, arrows that only point down, and functions short enough to read.

    python scripts/check_structure.py [ROOT]

Fails (exit 1, one line per finding) on:
- an import cycle among the project's modules (imports inside functions count: they still tie modules together);
- an import that points up the layers below (a data module importing a step, `models/` importing `pipeline`);
- `pipeline/serving/` importing `pipeline` (a logged model carries it without this repository);
- `benchmarks/` or `scripts/` importing `tests`;
- a function longer than MAX_FUNCTION_LINES in `pipeline/` or `models/`.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_FUNCTION_LINES = 60
PACKAGES = ("pipeline", "models")
TOOLS = ("benchmarks", "scripts", "tests")
# Lower layers never import higher ones; a module's layer is that of its longest matching prefix.
LAYERS = {
    "models": 0,
    "pipeline.errors": 1, "pipeline.redaction": 1, "pipeline.config": 1, "pipeline.cli": 1, "pipeline.plots": 1,
    "pipeline.datasets": 2, "pipeline.tracking": 2, "pipeline.training": 2,
    "pipeline.search": 3, "pipeline.clock": 3,
    "pipeline.steps": 4,
}
SERVING = "pipeline.serving"


def module_name(root: Path, path: Path) -> str:
    """`pipeline/search/study.py` -> `pipeline.search.study`; a package's __init__ is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files(root: Path) -> dict[str, Path]:
    """Every Python module of the project's packages and tool folders, by module name."""
    files = [p for folder in (*PACKAGES, *TOOLS) for p in sorted((root / folder).rglob("*.py"))]
    return {module_name(root, p): p for p in files if "__pycache__" not in p.parts}


def type_checking_imports(tree: ast.AST) -> set[int]:
    """The ids of import statements under `if TYPE_CHECKING:`: they name types, never run, and tie nothing."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The absolute module a `from` import names, relative ones (`from .. import x`) resolved against `name`."""
    if node.level == 0:
        return node.module
    base = name.split(".")[:len(name.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imported(tree: ast.AST, modules: dict[str, Path], name: str = "", is_package: bool = False) -> set[str]:
    """The project modules a module imports anywhere in its body: `from a.b import c` is a.b.c when that is a
    module, else a.b."""
    found, skipped = set(), type_checking_imports(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = absolute(node, name, is_package)
            names = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph(root: Path) -> tuple[dict[str, set[str]], dict[str, Path], dict[str, ast.AST]]:
    """Module -> the project modules it imports, with their files and syntax trees."""
    modules = project_files(root)
    trees = {name: ast.parse(path.read_text(), str(path)) for name, path in modules.items()}
    graph = {name: imported(tree, modules, name, modules[name].name == "__init__.py") - {name}
             for name, tree in trees.items()}
    return graph, modules, trees


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def layer(name: str) -> int | None:
    """The layer of a module (None: not layered, such as the tool folders)."""
    matches = [prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def arrow_findings(graph: dict[str, set[str]]) -> list[str]:
    """Imports that point up the layers, out of the serving package, or from the tools into the tests; and
    pipeline modules that no layer holds (their arrows could not be checked)."""
    findings = [f"{name} is in no layer: add it to LAYERS in scripts/check_structure.py" for name in sorted(graph)
                if name.startswith("pipeline.") and not name.startswith(SERVING) and layer(name) is None]
    for name, targets in sorted(graph.items()):
        for target in sorted(targets):
            if name.startswith(SERVING) and target.startswith("pipeline"):
                findings.append(f"{name} imports {target}: the serving package must not import pipeline")
            elif name.split(".")[0] in ("benchmarks", "scripts") and target.split(".")[0] == "tests":
                findings.append(f"{name} imports {target}: tools must not import the tests")
            elif None not in (layer(name), layer(target)) and layer(target) > layer(name):
                findings.append(f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)}): "
                                "arrows point down only")
    return findings


def long_functions(modules: dict[str, Path], trees: dict[str, ast.AST], root: Path) -> list[str]:
    """Functions (methods included) in pipeline/ and models/ longer than MAX_FUNCTION_LINES."""
    findings = []
    for name, tree in sorted(trees.items()):
        if name.split(".")[0] not in PACKAGES:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    findings.append(f"{modules[name].relative_to(root)}:{node.lineno}: {node.name} is {length} "
                                    f"lines (at most {MAX_FUNCTION_LINES})")
    return findings


def check(root: Path) -> list[str]:
    """Every finding in the project at `root`, one line each."""
    graph, modules, trees = import_graph(root)
    findings = [f"import cycle: {' <-> '.join(component)}" for component in cycles(graph)]
    return findings + arrow_findings(graph) + long_functions(modules, trees, root)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else Path(__file__).resolve().parents[1]).resolve()
    findings = check(root)
    for line in findings:
        print(line)
    if not findings:
        print(f"structure ok: {len(project_files(root))} modules, no cycles, arrows down, "
              f"functions <= {MAX_FUNCTION_LINES} lines")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
