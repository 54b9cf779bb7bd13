"""The documentation stays true and reachable: a short README that links every topic page, links and anchors
that resolve, and a command-line page that names every command and option the parser has."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BENCH_README = ROOT / "bench" / "README.md"
COMMAND_LINE = DOCS / "command-line.md"

README_LIMIT = 10_240  # bytes: a README a newcomer reads in five minutes

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
URL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md")), BENCH_README]


def prose(text: str) -> str:
    """The text without fenced code blocks (whose `#` lines are comments, not headings, and whose brackets are
    code, not links)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text (no Markdown marks, link text only), lower case, every
    character but letters, digits, `_`, `-` and spaces dropped, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("`", "")
    text = re.sub(r"(\*\*|__|\*|(?<!\w)_|_(?!\w))", "", text)  # emphasis marks, not snake_case underscores
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 … for repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    for _, title in HEADING.findall(prose(path.read_text(encoding="utf-8"))):
        base = slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    text = INLINE_CODE.sub("", prose(path.read_text(encoding="utf-8")))
    return LINK.findall(text)


def test_slug_follows_github():
    assert slug("Forecast accuracy") == "forecast-accuracy"
    assert slug("Did an improvement action work?") == "did-an-improvement-action-work"
    assert slug("Executives and the S&OP manager: Sponsorship scorecard, Meetings & decisions") == (
        "executives-and-the-sop-manager-sponsorship-scorecard-meetings--decisions"
    )
    assert slug("`import`: one file") == "import-one-file"
    assert slug("Roll-ups and *partial* periods") == "roll-ups-and-partial-periods"
    assert slug("the [audit](x.md) log of max_upload_mb") == "the-audit-log-of-max_upload_mb"


def test_headings_in_code_blocks_are_not_anchors(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# Title\n\n```toml\n# a comment\n```\n\n## Title\n", encoding="utf-8")
    assert anchors(page) == {"title", "title-1"}


def test_links_skip_code(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("[a](a.md) `[b](b.md)` ![c](c.png#x)\n```\n[d](d.md)\n```\n", encoding="utf-8")
    assert links(page) == ["a.md", "c.png#x"]


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size:,} bytes; keep it under {README_LIMIT:,}: move detail into docs/"


def test_readme_links_every_topic_page():
    targets = {t.split("#", 1)[0] for t in links(README)}
    pages = [f"docs/{p.name}" for p in sorted(DOCS.glob("*.md"))] + ["bench/README.md"]
    assert len(pages) >= 9, pages
    missing = [p for p in pages if p not in targets]
    assert not missing, f"README.md does not link {missing}"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(path):
    bad = []
    for target in links(path):
        if URL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.is_file():
            bad.append(f"{target}: no such file")
            continue
        if anchor and dest.suffix.lower() == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading with the anchor #{anchor} in {dest.relative_to(ROOT).as_posix()}")
    assert not bad, f"{path.relative_to(ROOT).as_posix()}:\n" + "\n".join(bad)


def cli_words() -> list[tuple[str, str, str]]:
    """(kind, command, word) for every subcommand, option string and positional choice of the parser."""
    from kpis.cli import build_parser

    out: list[tuple[str, str, str]] = []

    def walk(parser: argparse.ArgumentParser, command: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    out.append(("command", command, name))
                    walk(sub, f"{command} {name}".strip())
            elif action.option_strings:
                out.extend(("option", command, s) for s in action.option_strings)
            elif action.choices:
                out.extend(("choice", command, str(c)) for c in action.choices)

    walk(build_parser(), "")
    return out


def test_cli_words_are_found():
    words = cli_words()
    assert ("command", "", "trend") in words
    assert ("option", "trend", "--include-partial") in words
    assert ("option", "", "--config") in words
    assert ("choice", "import", "decisions") in words


@pytest.mark.parametrize("kind,command,word", cli_words(), ids=lambda v: v or "-")
def test_command_line_page_names_every_command_and_option(kind, command, word):
    text = COMMAND_LINE.read_text(encoding="utf-8")
    if kind == "command":  # in a `python -m kpis ...` line
        found = re.search(rf"python -m kpis\b[^\n]*(?<![\w-]){re.escape(word)}(?![\w-])", text)
    else:
        found = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)
    where = f"`{command}`" if command else "the program"
    assert found, f"docs/command-line.md does not mention the {kind} {word} of {where}"


# Files the docs name that are not in the repository: the database the app creates, the secrets file a site writes.
NOT_IN_REPOSITORY = {"data/sop_pulse.db", ".streamlit/secrets.toml"}
CODE_PATH = re.compile(r"`((?:\.ci|\.streamlit|bench|data|docs|kpis|migrations|pages|tests)/[^`\s<>]*)`")


def code_paths(path: Path) -> list[str]:
    """Repository paths named in backticks (`kpis/forecast/cube.py`, `tests/pages/test_browser*.py`)."""
    return CODE_PATH.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_path_named_in_the_docs_exists(path):
    missing = [p for p in code_paths(path) if p not in NOT_IN_REPOSITORY and not any(ROOT.glob(p.rstrip("/")))]
    assert not missing, f"{path.relative_to(ROOT).as_posix()} names paths that do not exist: {missing}"


def test_readme_says_how_to_change_the_port():
    """Issue 21: the README says how to change the port (and stays short)."""
    text = README.read_text(encoding="utf-8")
    assert "--server.port" in text and "PORT=" in text
    assert len(README.read_bytes()) < README_LIMIT
