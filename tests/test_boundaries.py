"""Module boundaries inside kpis/: no module takes another module's underscore name, no import loop between
files nor between packages, no module over 600 lines.

The KNOWN lists hold what other branches of the same refactor are fixing at the time this test was written;
they only ever shrink (the integrator empties them once those branches are merged). kpis/forecast is clean except
for the files of the import pipeline (load, stream, validate, bulk), which the pipeline branch fixes.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KPIS = ROOT / "kpis"
MAX_LINES = 600
PIPELINE = {"kpis/forecast/load.py", "kpis/forecast/stream.py", "kpis/forecast/validate.py", "kpis/forecast/bulk.py"}

# "file: module._name" of every underscore import across modules that other branches are fixing.
KNOWN: set[str] = set()

# Runtime import loops between files that other branches are fixing (each a set of modules).
KNOWN_MODULE_LOOPS: list[set[str]] = []

# Modules over MAX_LINES that other branches are splitting.
KNOWN_LONG: set[str] = set()


def _files() -> list[Path]:
    return sorted(KPIS.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _file_of(module: str) -> Path | None:
    """The file of a kpis module (a package's __init__.py), None when there is none."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _absolute(node: ast.ImportFrom, path: Path) -> str | None:
    """The module an ImportFrom reads from, relative imports resolved."""
    if node.level == 0:
        return node.module
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:`."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return [n for n in ast.walk(tree) if id(n) not in skip]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _underscore_imports(path: Path) -> list[str]:
    """`file: module._name` for every underscore name this file takes from another kpis module."""
    own = _module_of(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> kpis module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = _absolute(node, path)
            if not module or not module.startswith("kpis"):
                continue
            for a in node.names:
                sub = f"{module}.{a.name}"
                if _file_of(sub) is not None:  # a module, not a name
                    aliases[a.asname or a.name] = sub
                elif _private(a.name) and module != own:
                    found.append(f"{_rel(path)}: {module}.{a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("kpis") and a.asname:
                    aliases[a.asname] = a.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and aliases[node.value.id] != own
            and _private(node.attr)
        ):
            found.append(f"{_rel(path)}: {aliases[node.value.id]}.{node.attr}")
    return sorted(set(found))


def _imports(path: Path) -> set[str]:
    """The kpis modules (files) a file imports at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("kpis"))
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, path)
            if not module or not module.startswith("kpis"):
                continue
            for a in node.names:
                sub = f"{module}.{a.name}"
                out.add(sub if _file_of(sub) is not None else module)
    own = _module_of(path)
    return {m for m in out if m != own and _file_of(m) is not None}


def _module_level_nodes(tree: ast.Module) -> list[ast.AST]:
    """The nodes that run when the module is imported: not those inside a function (an import there runs when
    the function is called) nor those under `if TYPE_CHECKING:`."""
    found: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def _package(module: str) -> str:
    """The package a module belongs to: kpis.forecast for kpis.forecast.cube; a module directly in kpis/
    (kpis.chartstyle) is a package of its own."""
    return ".".join(module.split(".")[:2])


def _package_graph() -> dict[str, set[str]]:
    """Which package of kpis/ imports which other one at module level (the package kpis itself left out)."""
    graph: dict[str, set[str]] = {}
    for path in _files():
        own = _module_of(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _module_level_nodes(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("kpis")]
            elif isinstance(node, ast.ImportFrom):
                module = _absolute(node, path)
                if not module or not module.startswith("kpis"):
                    continue
                names = [f"{module}.{a.name}" if _file_of(f"{module}.{a.name}") else module for a in node.names]
            else:
                continue
            for name in names:
                if "." in name and _package(name) != _package(own):
                    graph.setdefault(_package(own), set()).add(_package(name))
    return graph


def _loops(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_takes_another_modules_underscore_name():
    offenders = [o for path in _files() for o in _underscore_imports(path)]
    new = [o for o in offenders if o not in KNOWN]
    assert not new, "underscore names taken from another module (give them a public name):\n" + "\n".join(new)
    forecast = [k for k in KNOWN if k.startswith("kpis/forecast/") and k.split(":")[0] not in PIPELINE]
    assert not forecast, forecast


def test_no_import_loop_between_files():
    graph = {_module_of(p): _imports(p) for p in _files()}
    loops = _loops(graph)
    new = [sorted(c) for c in loops if not any(c <= known for known in KNOWN_MODULE_LOOPS)]
    assert not new, "import loops between files:\n" + "\n".join(" <-> ".join(c) for c in new)


def test_no_import_loop_between_packages():
    """The packages of kpis/ (catalog, forecast, access, store, …; a module directly in kpis/ counts as one)
    form layers: none imports, at module level, a package that imports it back, directly or around a ring."""
    loops = _loops(_package_graph())
    assert not loops, "import loops between packages of kpis/:\n" + "\n".join(" <-> ".join(sorted(c)) for c in loops)


def test_the_loop_finder_finds_loops():
    assert _loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _loops({"a": {"b"}, "b": set()}) == []


def test_no_module_over_600_lines():
    long = {_rel(p): n for p in _files() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    new = {k: v for k, v in long.items() if k not in KNOWN_LONG}
    assert not new, f"modules over {MAX_LINES} lines: {new}"


def test_module_level_imports_leave_out_functions_and_type_checking():
    tree = ast.parse(
        "import a\ndef f():\n    import b\nclass C:\n    import e\n"
        "if TYPE_CHECKING:\n    import c\nelse:\n    import d\n"
    )
    names = {a.name for n in _module_level_nodes(tree) if isinstance(n, ast.Import) for a in n.names}
    assert names == {"a", "d", "e"}
    assert _package("kpis.forecast.cube") == "kpis.forecast" and _package("kpis.chartstyle") == "kpis.chartstyle"
