"""Hostile text in a real browser: every page (with its tabs, expanders, dropdowns and first drill-downs) opened on a
database whose every free-text field and imported name is an attack (tests/hostile_data.py) shows the attacks as
text: no script runs, no element the text names is created, no request leaves the app, and the text is there."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from kpis import safety
from tests import hostile_data as H
from tests.pages.test_browser import CHARTS_DRAWN, _settle, browser, streamlit_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

# url path, a text the page shows when it has drawn, drill-downs: ("row", table key, text) ticks the table's first
# row (and waits for the text it brings),
# ("view", option) switches a radio or segmented control, ("pick", label, text, tab) chooses the option holding
# `text` in a dropdown (on a tab).
PAGES = [
    ("", "S&OP KPI overview", []),
    (f"kpi-trends?trend_kpi=otif&trend_segment={quote(H.SEGMENTS[1])}", "Control-limit baseline", []),
    (
        f"forecast-accuracy?fa_drill=true&fa_group={quote(H.ATTR_HTML)}",
        "Where the error is",
        [("row", "fa_groups_sel", "Items in"), ("row", "fa_items", "actual vs forecast")],
    ),
    ("exceptions", "Tracking signal", [("row", "ex_table", "actual vs forecast")]),
    ("data", "Past imports", []),
    ("catalog", "KPI catalog", []),
    ("reviews", "Post-implementation reviews", [("row", "rv_table", "What was planned")]),
    (
        "actions",
        "Improvement actions",
        [
            ("view", "Board"),
            ("view", "My actions"),
            ("view", "Charts"),
            ("view", "List"),
            ("pick", "Action details", H.SCRIPT, None),
        ],
    ),
    ("assess", "maturity", []),
    ("maturity", "maturity", []),
    ("scorecard", "Executive sponsorship scorecard", [("view", "To act on"), ("view", "Portfolio")]),
    ("meetings", "S&OP meetings and decisions", [("pick", "Meeting", H.SHORT[2], "Meetings")]),
    ("my_work", "My work", []),
    ("audit_log", "Every write in the app", [("row", "audit_table", None)]),
]

# Dropdowns whose options are the app's own words or config.toml's names (not opened, to keep the test short).
FIXED_OPTIONS = {
    "Window",
    "Lag",
    "Stage",
    "Headline window",
    "Type",
    "Priority",
    "Practice",
    "Status",
    "Source",
    "Expected direction",
    "KPI",
    "KPI it should move",
    "KPI (optional)",
    "Quarter",
    "Rating",
    "Figure",
    "Your function",
    "Step",
    "View by",
    "Control-limit baseline",
    "Executive",
    "Record type",
    "Action",
}

# Elements and attributes that only exist when hostile text became markup.
INJECTED = f"""() => {{
  const out = [];
  const sel = ['img[src*="{H.OUTSIDE}"]', '[*|href*="{H.OUTSIDE}"]', '[*|href^="javascript" i]', 'img[src="x"]',
               'img[src="y"]', '[onerror]', 'iframe', '.katex', '[style*="font-size:80px"]',
               '[style*="font-size: 80px"]'];
  for (const s of sel) for (const el of document.querySelectorAll(s)) out.push(s + ' -> ' + el.outerHTML.slice(0, 200));
  for (const el of document.querySelectorAll('script')) if (el.textContent.includes('__pwned')) out.push('script');
  if (window.__pwned !== undefined) out.push('window.__pwned is set');
  return out;
}}"""


@pytest.fixture(scope="module")
def server(hostile_db, tmp_path_factory):
    with streamlit_server(hostile_db, H.USER, tmp_path_factory.mktemp("streamlit_hostile")) as base:
        yield base


class Visit:
    """One page in the browser: every request that would leave the app is blocked and recorded."""

    def __init__(self, browser, base: str):  # noqa: F811 - the fixture's value
        self.base = base
        self.outside: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 2000})
        self.page.route("**/*", self._route)
        self.seen: set[str] = set()
        self.problems: list[str] = []
        self._reported: set[str] = set()

    def _route(self, route):
        url = route.request.url
        if url.startswith((self.base + "/", "data:", "blob:", "about:")) or url == self.base:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def _saw(self, text: str) -> None:
        text = text.replace(safety.WORD_JOINER, "")
        self.seen |= {p for p in H.PAYLOADS if p in text}

    def check(self, where: str, text_of: str = "body") -> None:
        """No injected element, no script run, no outside request; remembers which payloads show as text."""
        for bad in self.page.evaluate(INJECTED):
            if bad not in self._reported:
                self._reported.add(bad)
                self.problems.append(f"{where}: {bad}")
        if self.outside:
            self.problems.append(f"{where}: requests left the app: {sorted(set(self.outside))}")
            self.outside.clear()
        if self.page.locator('[data-testid="stException"]').count():
            self.problems.append(f"{where}: an exception is shown")
        self._saw(self.page.locator(text_of).first.inner_text())

    def _main(self):
        return self.page.locator('[data-testid="stMain"]')

    def open_everything(self, where: str) -> None:
        """Open every tab, view switch and expander, and every dropdown of the page, checking after each."""
        page = self.page
        for tab in self._main().locator('[role="tab"]').all():
            if tab.is_visible():
                name = tab.inner_text()
                tab.click()  # tabs switch in the browser (no rerun): wait for the charts they show to draw
                page.wait_for_timeout(300)
                page.wait_for_function(CHARTS_DRAWN, timeout=30000)
                self.check(f"{where}, {name!r}")
                self.open_dropdowns(f"{where}, {name!r}")
        for summary in self._main().locator('[data-testid="stExpander"] summary').all():
            if summary.is_visible():
                summary.click()
        page.wait_for_timeout(500)
        self.check(f"{where}, expanders open")
        self.open_dropdowns(where)

    def open_dropdowns(self, where: str) -> None:
        page = self.page
        for box in self._main().locator('[data-testid="stSelectbox"], [data-testid="stMultiSelect"]').all():
            opener = box.locator('input[role="combobox"]')
            if not box.is_visible() or not opener.count() or not opener.first.is_enabled():
                continue
            if box.locator('[data-testid="stWidgetLabel"]').inner_text().strip() in FIXED_OPTIONS:
                continue
            opener.first.click()
            listbox = page.locator('[role="listbox"]').first
            try:
                listbox.wait_for(timeout=1500)
            except Exception:
                page.keyboard.press("Escape")
                continue
            self.check(f"{where}, dropdown {box.inner_text()[:40]!r}", text_of='[role="listbox"]')
            page.keyboard.press("Escape")

    def view(self, name: str, where: str) -> None:
        """Switch a radio or segmented control to the option `name`, then check it and its dropdowns."""
        self._main().locator('[data-testid="stRadio"] label, [data-testid="stButtonGroup"] button').filter(
            has_text=name
        ).first.click()
        _settle(self.page)
        self.check(f"{where}, view {name!r}")
        self.open_dropdowns(f"{where}, view {name!r}")

    def pick(self, label: str, contains: str, where: str) -> None:
        """Choose the first option of the dropdown labelled `label` whose text contains `contains`."""
        box = self._main().locator('[data-testid="stSelectbox"]').filter(has_text=label).first
        box.locator('input[role="combobox"]').first.click()
        self.page.locator('[role="option"]').filter(has_text=contains).first.click()
        _settle(self.page)
        self.check(f"{where}, picked {contains!r} in {label!r}")

    def select_first_row(self, key: str, where: str, expect: str | None) -> None:
        """Tick the first row of a selectable table (the row-marker column at its left edge) and check the result."""
        grid = self.page.locator(f'.st-key-{key} [data-testid="stDataFrame"]').first
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        self.page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
        if expect:
            self.page.get_by_text(expect, exact=False).first.wait_for(timeout=30000)
        _settle(self.page)
        self.check(f"{where}, first row of {key} selected")


def test_hostile_text_renders_as_text_on_every_page(server, browser):  # noqa: F811
    seen: set[str] = set()
    problems: list[str] = []
    for path, text, steps in PAGES:
        started = time.time()
        v = Visit(browser, server)
        where = path.split("?")[0] or "overview"
        try:
            v.page.goto(f"{server}/{path}", wait_until="domcontentloaded")
            v._main().get_by_text(text, exact=False).first.wait_for(timeout=60000)
            _settle(v.page)
            v.check(where)
            for step in steps:
                if step[0] == "row":
                    v.select_first_row(step[1], where, step[2])
                elif step[0] == "view":
                    v.view(step[1], where)
                else:
                    _, label, option, tab = step
                    if tab:
                        v._main().locator('[role="tab"]').filter(has_text=tab).first.click()
                    v.pick(label, option, where)
            v.open_everything(where)
            seen |= v.seen
            problems += v.problems
        finally:
            v.page.close()
        print(f"{where}: {time.time() - started:.1f} s")
    assert not problems, "\n".join(problems)
    # Every payload was shown, as typed, somewhere: escaped, not dropped.
    assert set(H.PAYLOADS) - seen == set()
