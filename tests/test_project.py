"""Project self-checks: layering, no raw HTML in the UI, and the docs kept in step with config and samples."""

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
IMPORTING_DOC = ROOT / "docs" / "importing-data.md"
SAMPLES = ROOT / "data" / "samples"

# Tables whose keys are data (user names, practice ids), not configuration keys.
MAP_TABLES = {
    ("roles", "users"),
    ("roles", "emails"),
    ("roles", "domains"),
    ("roles", "groups"),
    ("maturity", "targets"),
    ("maturity", "rubric"),
}


def readme_text() -> str:
    assert README.is_file(), "README.md is missing"
    return README.read_text(encoding="utf-8")


def doc_text(path: Path) -> str:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return path.read_text(encoding="utf-8")


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
    offenders = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in ui_files()
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, f"unsafe_allow_html=True found at {offenders}"


def test_no_unsafe_allow_html_in_core():
    for path in python_files(ROOT / "kpis"):
        assert "unsafe_allow_html" not in path.read_text(encoding="utf-8"), path


# ---------------------------------------------------------------- docs in step with config and samples


def test_config_keys_are_found():
    keys = config_keys()
    # a sanity check of the walker itself: sections, nested tables and KPI fields
    for k in (
        "app.max_upload_mb",
        "database.url",
        "roles.default",
        "roles.users",
        "forecast.stages",
        "maturity.targets",
        "kpi.direction",
        "kpi.target",
        "kpi.target.from",
        "kpi.band",
        "kpi.min",
    ):
        assert k in keys
    assert "roles.users.viewer" not in keys


@pytest.mark.parametrize("key", config_keys())
def test_config_key_documented_in_configuration_doc(key):
    name = key.rsplit(".", 1)[-1]
    assert mentioned(name, doc_text(CONFIGURATION_DOC)), (
        f"config key '{key}' is not documented in docs/configuration.md"
    )


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.iterdir() if p.is_file()))
def test_sample_file_mentioned_in_importing_doc(sample):
    assert sample in doc_text(IMPORTING_DOC), f"data/samples/{sample} is not mentioned in docs/importing-data.md"


def test_samples_folder_has_files():
    assert {"actuals_long.csv", "actuals_wide.csv", "actuals_wide.xlsx"} <= {p.name for p in SAMPLES.iterdir()}


# ---------------------------------------------------------------- the project stands on its own

METHODOLOGY = ROOT / "docs" / "methodology.md"
# A path outside the repository: the sibling folder the project was first specified in, its files.
OUTSIDE_REFERENCE = re.compile(r"\.\./shared|DOMAIN\.md|DOMAIN\s*§|STYLE\.md")
MARKDOWN_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)")


def repository_files() -> list[Path]:
    """Text files of the repository: git's tracked and new (not ignored) files, or a walk without git."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        paths = [ROOT / p for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):  # an unpacked archive, not a checkout
        skip = {".git", ".venv", "__pycache__", ".pytest_cache", "node_modules"}
        paths = [p for p in ROOT.rglob("*") if not skip & set(p.relative_to(ROOT).parts)]
    files = []
    for p in paths:
        if not p.is_file():
            continue
        data = p.read_bytes()
        if b"\0" in data[:8192]:  # PNG, XLSX, Parquet, databases
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        files.append(p)
    return sorted(files)


def test_repository_files_are_listed():
    names = {p.relative_to(ROOT).as_posix() for p in repository_files()}
    assert {"README.md", "config.toml", "kpis/spc.py", "docs/methodology.md"} <= names
    assert not any(n.endswith((".png", ".xlsx")) for n in names)


def test_nothing_refers_to_a_path_outside_the_repository():
    bad = []
    for path in repository_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_REFERENCE.search(line):
                bad.append(f"{rel}:{n}: {line.strip()[:100]}")
        if path.suffix.lower() == ".md":
            for target in MARKDOWN_LINK.findall(text):
                if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target, re.IGNORECASE):  # URL, mailto, anchor
                    continue
                resolved = (path.parent / target.split("#")[0]).resolve()
                if not resolved.is_relative_to(ROOT):
                    bad.append(f"{rel}: Markdown link to {target} leaves the repository")
    assert not bad, "references outside the repository (write it in docs/methodology.md instead):\n" + "\n".join(bad)


def test_outside_reference_patterns_catch_what_they_should():
    # built from pieces so this file does not itself contain what it forbids
    for text in ("see ../" + "shared/x.txt", "DOMAIN" + ".md §2", "(DOMAIN" + " §4)", "STYLE" + ".md"):
        assert OUTSIDE_REFERENCE.search(text), text
    for text in ("The KPI catalog domain", "each domain registers", "docs/methodology.md"):
        assert not OUTSIDE_REFERENCE.search(text), text


def named_functions() -> list[str]:
    """Every `kpis.<module>.<name>` in backticks in docs/methodology.md."""
    text = METHODOLOGY.read_text(encoding="utf-8")
    return sorted(set(re.findall(r"`(kpis(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`", text)))


def resolve(dotted: str) -> object:
    """Import the longest module prefix of a dotted name and getattr the rest; raise if anything is missing."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


def test_methodology_exists_and_names_functions():
    assert METHODOLOGY.is_file(), "docs/methodology.md is missing"
    names = named_functions()
    assert len(names) >= 30, names
    for section in (
        "## Conventions",
        "## Forecast accuracy",
        "## KPI status against targets",
        "## Roll-ups and partial periods",
        "## Control charts and trends",
        "## Did an improvement action work?",
        "## Integration maturity",
        "## Executive sponsorship scorecard",
    ):
        assert section in METHODOLOGY.read_text(encoding="utf-8"), section


@pytest.mark.parametrize("dotted", named_functions() if METHODOLOGY.is_file() else [])
def test_methodology_names_code_that_exists(dotted):
    try:
        resolve(dotted)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"docs/methodology.md names `{dotted}`, which does not exist ({exc}); update the document")


def test_resolve_rejects_a_missing_name():
    with pytest.raises(AttributeError):
        resolve("kpis.spc.no_such_function")
    assert callable(resolve("kpis.spc.xmr_limits"))


def test_readme_links_the_methodology():
    text = readme_text()
    assert "](docs/methodology.md" in text, "README.md does not link docs/methodology.md"
    section = text.split("## How the numbers are computed", 1)[1].split("\n## ", 1)[0]
    assert "](docs/methodology.md" in section


def test_every_picture_and_link_in_the_readme_exists():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?:docs|data|bench|tests|kpis|pages)/[^)#\s]+)\)", text)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, missing
