"""The shape of the code: imports point from pages to kpis/ domains to kpis/store, never back, and the
command line's modules import nothing heavy at the top (every command pays only for what it uses)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KPIS = ROOT / "kpis"
DOMAINS = ("catalog", "forecast", "improvement", "maturity", "sponsorship", "access")
HEAVY = ("pandas", "numpy", "scipy", "sqlalchemy", "plotly", "openpyxl", "pyarrow", "alembic", "streamlit")


def runtime_imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Modules a file imports at run time (imports under `if TYPE_CHECKING:` are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    mods: set[str] = set()
    for node in nodes:
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
            mods.update(f"{node.module}.{a.name}" for a in node.names)
    return mods


def files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


@pytest.mark.parametrize("path", files(KPIS / "store"), ids=lambda p: p.name)
def test_store_never_imports_a_domain(path):
    bad = {m for m in runtime_imports(path) if any(m == f"kpis.{d}" or m.startswith(f"kpis.{d}.") for d in DOMAINS)}
    assert not bad, f"kpis/store/{path.name} imports {sorted(bad)}: the store sits below every domain"


@pytest.mark.parametrize("path", files(KPIS), ids=lambda p: str(p.relative_to(KPIS)))
def test_core_never_imports_pages_or_the_cli(path):
    mods = runtime_imports(path)
    assert not {m for m in mods if m == "pages" or m.startswith("pages.")}, path
    if "cli" not in path.relative_to(KPIS).parts and path.name != "__main__.py":
        assert not {m for m in mods if m.startswith("kpis.cli")}, f"{path} imports the CLI"


@pytest.mark.parametrize("path", files(KPIS / "cli"), ids=lambda p: p.name)
def test_cli_modules_import_nothing_heavy_at_the_top(path):
    top = runtime_imports(path, top_level_only=True)
    heavy = {m for m in top if m.split(".")[0] in HEAVY}
    domain = {m for m in top if m.startswith("kpis.") and not m.startswith("kpis.cli")}
    assert not heavy and not domain, (
        f"kpis/cli/{path.name} imports {sorted(heavy | domain)} at the top; import inside the command function"
    )


def test_help_loads_no_heavy_package():
    probe = (
        "import sys; from kpis.cli import build_parser; build_parser(); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_pages_switch_through_the_helper_that_leaves_bound_query_params():
    """st.switch_page clears the query parameters, which fails on a page whose widgets are bound to them."""
    offenders = [
        f"{p.name}:{i}"
        for p in sorted((ROOT / "pages").glob("*.py"))
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if "st.switch_page(" in line
    ]
    assert not offenders, f"use _ui.go(page) instead of st.switch_page: {offenders}"
