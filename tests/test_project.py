"""Project self-checks: layering, no raw HTML in the UI, and README kept in step with config and samples."""

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SAMPLES = ROOT / "data" / "samples"

# Tables whose keys are data (user names, practice ids), not configuration keys.
MAP_TABLES = {("roles", "users"), ("maturity", "targets"), ("maturity", "rubric")}


def readme_text() -> str:
    assert README.is_file(), "README.md is missing"
    return README.read_text(encoding="utf-8")


def mentioned(word: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", text) is not None


def config_keys() -> list[str]:
    """Every section key (dotted, e.g. app.max_upload_mb) and every KPI field name used in config.toml."""
    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    keys: list[str] = []

    def walk(table: dict, path: tuple[str, ...]) -> None:
        for k, v in table.items():
            keys.append(".".join((*path, k)))
            if isinstance(v, dict) and (*path, k) not in MAP_TABLES:
                walk(v, (*path, k))

    walk({k: v for k, v in raw.items() if k != "kpi"}, ())
    for kpi in raw["kpi"]:
        for field, v in kpi.items():
            keys.append(f"kpi.{field}")
            if isinstance(v, list):
                keys.extend(f"kpi.{field}.{sub}" for step in v if isinstance(step, dict) for sub in step)
    return sorted(set(keys))


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if ".venv" not in p.parts)


# ---------------------------------------------------------------- layering


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    mods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
    return mods


def test_core_package_exists():
    assert python_files(ROOT / "kpis")


@pytest.mark.parametrize("path", python_files(ROOT / "kpis"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_does_not_import_streamlit(path):
    offenders = {m for m in imported_modules(path) if m == "streamlit" or m.startswith("streamlit.")}
    assert not offenders, f"{path.relative_to(ROOT)} imports {sorted(offenders)}; kpis/ must stay UI-free"


def test_no_dynamic_streamlit_import_in_core():
    for path in python_files(ROOT / "kpis"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""import_module\(\s*['"]streamlit""", text), path
        assert not re.search(r"""__import__\(\s*['"]streamlit""", text), path


# ---------------------------------------------------------------- no raw HTML in the UI


def ui_files() -> list[Path]:
    files = [ROOT / "app.py"] if (ROOT / "app.py").is_file() else []
    if (ROOT / "pages").is_dir():
        files += python_files(ROOT / "pages")
    return files


def test_no_unsafe_allow_html_in_ui():
    pattern = re.compile(r"unsafe_allow_html\s*=\s*True")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in ui_files()
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not offenders, f"unsafe_allow_html=True found at {offenders}"


def test_no_unsafe_allow_html_in_core():
    for path in python_files(ROOT / "kpis"):
        assert "unsafe_allow_html" not in path.read_text(encoding="utf-8"), path


# ---------------------------------------------------------------- README in step with config and samples


def test_config_keys_are_found():
    keys = config_keys()
    # a sanity check of the walker itself: sections, nested tables and KPI fields
    for k in ("app.max_upload_mb", "database.url", "roles.default", "roles.users", "forecast.stages",
              "maturity.targets", "kpi.direction", "kpi.target", "kpi.target.from", "kpi.band", "kpi.min"):
        assert k in keys
    assert "roles.users.viewer" not in keys


@pytest.mark.parametrize("key", config_keys())
def test_config_key_documented_in_readme(key):
    name = key.rsplit(".", 1)[-1]
    assert mentioned(name, readme_text()), f"config key '{key}' is not documented in README.md"


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.iterdir() if p.is_file()))
def test_sample_file_mentioned_in_readme(sample):
    assert sample in readme_text(), f"data/samples/{sample} is not mentioned in README.md"


def test_samples_folder_has_files():
    assert {"actuals_long.csv", "actuals_wide.csv", "actuals_wide.xlsx"} <= {p.name for p in SAMPLES.iterdir()}
