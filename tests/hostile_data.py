"""A hostile dataset: the demo company plus records whose every free-text field and imported name is an attack.

Written through the importers and the kpis/ write functions (as a planner's file or a typed form would be), by a
user whose own name is hostile. Payloads: HTML that would run script, Markdown images and links to an outside
host (127.0.0.2, which a browser test watches for), Plotly's HTML subset, Streamlit's colour / icon directives,
LaTeX, SQL fragments, a formula, right-to-left overrides and zero-width characters, and 100 kB strings where the
column has no limit (fields with a limit get a string at it). NUL is left to the import checks: PostgreSQL cannot
store it and the importers refuse it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools

from sqlalchemy import Engine

from kpis.access.users import User
from kpis.config import PRACTICES, AppConfig

OUTSIDE = "127.0.0.2"  # the "attacker's" host: no request may go there
PWN = "window.__pwned=1"  # what injected script would set

SCRIPT = f"<script>{PWN}</script>"
IMG = f'<img src=x onerror="{PWN}">'
MD_IMG = f"![x](http://{OUTSIDE}:9/md.png)"
JS_LINK = f"[click](javascript:{PWN})"
A_HREF = f'<a href="http://{OUTSIDE}:9/a">a</a>'
SPAN = '<span style="font-size:80px">big</span>'
DIRECTIVES = ":red[x] :material/warning: :rainbow-background[y]"
LATEX = "$x^2$"
SQL = "'; DROP TABLE kpi; --"
FORMULA = f'=HYPERLINK("http://{OUTSIDE}:9/f","x")'
RTL = "\u202egnp.exe"
ZERO_WIDTH = "zero\u200bwidth"
BARE_URL = f"www.{OUTSIDE}.example/bare"

PAYLOADS = (SCRIPT, IMG, MD_IMG, JS_LINK, A_HREF, SPAN, DIRECTIVES, LATEX, SQL, FORMULA, RTL, ZERO_WIDTH, BARE_URL)
ALL = " ".join(PAYLOADS)
assert "\n" not in ALL
# Several lines, a Markdown heading and rule, every payload, then padding to 100 kB: for columns without a limit.
MULTILINE = f"first line\n# heading\n---\n{ALL}\n> quote"
BIG = (MULTILINE + "\n" + "long text " * 10_000)[:100_000]

# Short names (each at most 60 characters) for fields with a limit; distinct, so they can be item codes.
SHORT = (SCRIPT, IMG, MD_IMG, JS_LINK, A_HREF, SPAN, f"{DIRECTIVES} {LATEX}", FORMULA, f"{SQL} {RTL} {ZERO_WIDTH}")
assert all(len(s) <= 60 for s in SHORT) and len(set(SHORT)) == len(SHORT)

USER = f"{IMG}{MD_IMG}"[:120]  # the person who writes all of it (and opens the app)
ATTR_MD = f"![c](http://{OUTSIDE}:9/col.png)"  # attribute names: column headers of the demand file
ATTR_HTML = f'<b>attr</b><img src=y onerror="{PWN}">'
SEGMENTS = (f"{MD_IMG} seg", f"{A_HREF} {SPAN}", f"{SCRIPT} {SQL}")  # KPI segments (at most 80 characters)
assert all(len(s) <= 80 for s in SEGMENTS)


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode("utf-8")


def _at(limit: int, text: str = ALL) -> str:
    """Hostile text exactly `limit` characters long (repeated or cut)."""
    return (text + " " + text * (limit // max(len(text), 1) + 1))[:limit]


def months(end: dt.date, n: int) -> list[dt.date]:
    out, y, m = [], end.year, end.month
    for _ in range(n):
        out.append(dt.date(y, m, 1))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def add_hostile(engine: Engine, config: AppConfig, *, end: dt.date) -> dict[str, int]:
    """Write the hostile records into a database that already holds the demo company (demo end `end`)."""
    from kpis.catalog.load import import_actuals
    from kpis.forecast.load import import_file
    from kpis.improvement.actions import create_action, move_action
    from kpis.improvement.load import import_actions
    from kpis.improvement.reviews import save_review
    from kpis.maturity.assessments import quarter_label, quarter_start, shift_quarter
    from kpis.maturity.load import import_assessments
    from kpis.sponsorship.decisions import DecisionInput, raise_decision
    from kpis.sponsorship.load import import_decisions, import_meetings

    user = User(name=USER, role="admin")
    ms = months(end, 36)
    counts: dict[str, int] = {}

    # KPI actuals: hostile segments and notes (one note of 100 kB) on two monthly KPIs.
    rows = []
    for kpi in ("otif", "fill_rate"):
        for seg_i, seg in enumerate(("", *SEGMENTS)):
            for i, m in enumerate(ms):
                note = ""
                if i % 6 == 5:
                    note = SHORT[(i // 6 + seg_i) % len(SHORT)]
                if i == len(ms) - 2:
                    note = BIG if (kpi, seg) == ("otif", "") else MULTILINE
                rows.append(
                    {
                        "kpi": kpi,
                        "period": f"{m:%Y-%m}",
                        "segment": seg,
                        "value": round(0.9 + 0.01 * ((i * 7 + seg_i) % 5), 4),
                        "note": note,
                    }
                )
    counts["kpi values"] = import_actuals(engine, _csv(rows), "hostile actuals.csv", config=config, user=user).rows

    # Demand and forecasts: hostile item codes, attribute names and values, large enough to top every list.
    demand, forecasts = [], []
    for n, code in enumerate(SHORT):
        for i, m in enumerate(ms):
            actual = 40_000 + 1_000 * n + (i % 4) * 500
            demand.append(
                {
                    "item": code,
                    "period": f"{m:%Y-%m}",
                    "actual": actual,
                    "family": SHORT[(n + 1) % len(SHORT)],
                    "region": SHORT[(n + 2) % len(SHORT)],
                    "channel": "OEM",
                    ATTR_MD: SHORT[(n + 3) % len(SHORT)],
                    ATTR_HTML: SEGMENTS[n % 3],
                }
            )
            for lag, stage in itertools.product(range(4), config.forecast.stages[1:]):
                forecasts.append(
                    {
                        "item": code,
                        "period": f"{m:%Y-%m}",
                        "lag": lag,
                        "stage": stage,
                        "forecast": round(actual * (1.5 + 0.05 * lag + 0.01 * n), 1),
                    }
                )
    counts["demand rows"] = import_file(
        engine, _csv(demand), kind="demand", config=config, user=user, filename="hostile demand.csv"
    ).rows
    counts["forecast rows"] = import_file(
        engine, _csv(forecasts), kind="forecasts", config=config, user=user, filename="hostile forecasts.csv"
    ).rows

    # Reviews: every text field hostile; one with 100 kB in each unlimited field.
    review_ids = []
    for n, big in enumerate((False, True, False)):
        fields = {
            "initiative": _at(200, SHORT[n] + " " + ALL),
            "practices": ["collaboration", "improvement"],
            "review_date": end,
            "period": ms[-6],
            "team": _at(120, SHORT[n + 3] + " " + ALL),
            "facilitator": USER if n == 0 else _at(120, SHORT[n + 5]),
            "participants": [USER, *SHORT[:4]],
            "root_cause_method": "5 whys",
            "rating": 3,
        }
        for k in ("objectives", "planned", "happened", "root_cause", "went_well", "to_improve", "lessons", "benefits"):
            fields[k] = BIG if big else MULTILINE
        review_ids.append(
            save_review(
                engine=engine,
                fields=fields,
                user=user,
                config=config,
                submit=True,
                kpis=[
                    {
                        "kpi_id": "otif",
                        "baseline": 0.9,
                        "target": 0.95,
                        "actual": 0.93,
                        "baseline_period": ms[-12],
                        "actual_period": ms[-2],
                    }
                ],
            )
        )
    counts["reviews"] = len(review_ids)

    # Actions: typed (create_action) and imported (import_actions); hostile owner, sponsor, segment, notes.
    action_ids = []
    for n in range(4):
        fields = {
            "title": _at(200, SHORT[n] + " " + ALL),
            "description": BIG if n == 0 else MULTILINE,
            "type": "corrective",
            "source": "pir" if n < 2 else "other",
            "review_id": review_ids[0] if n < 2 else None,
            "source_note": _at(255),
            "practice": "collaboration",
            "kpi_id": "otif",
            "segment": SEGMENTS[n % 3],
            "expected_direction": "higher",
            "owner": USER if n % 2 == 0 else _at(120, SHORT[n + 4]),
            "sponsor": _at(120, SHORT[n + 2]) if n else "Richard Osei",
            "priority": "high",
            "due_date": end - dt.timedelta(days=10) if n < 2 else end + dt.timedelta(days=60),
        }
        action_ids.append(create_action(engine=engine, fields=fields, user=user, config=config))
    move_action(engine=engine, action_id=action_ids[1], to="in progress", user=user, config=config)
    imported = [
        {
            "ref": _at(60, SHORT[n]),
            "title": _at(200, SHORT[n + 1] + " " + ALL),
            "owner": USER if n == 0 else SHORT[n + 2],
            "practice": "sponsorship",
            "due_date": f"{end + dt.timedelta(days=30 * n - 20):%Y-%m-%d}",
            "kpi": "fill_rate",
            "segment": SEGMENTS[n],
            "expected_direction": "higher",
            "sponsor": "Lars Nilsson" if n == 0 else SHORT[n + 4],
            "type": "improvement",
            "priority": "medium",
            "status": "open",
            "completed_on": "",
            "description": MULTILINE,
        }
        for n in range(3)
    ]
    counts["actions"] = (
        len(action_ids)
        + import_actions(engine, _csv(imported), "hostile actions.csv", config=config, user=user).inserted
    )

    # Assessments: hostile respondents, teams and comments (at their 120 / 2000 character limits).
    last = quarter_start(end)
    assess = []
    for q in (shift_quarter(last, -1), last):
        for n in range(3):
            row = {
                "respondent": USER if n == 0 else _at(120, SHORT[n + 4]),
                "team": _at(120, SHORT[n + 1]),
                "period": quarter_label(q),
                "function": "sales",
            }
            row.update({p: 1 + (n + i) % 5 for i, p in enumerate(PRACTICES)})
            row["comment"] = _at(2000, MULTILINE)
            row.update(
                {f"comment_{p}": _at(2000) if i % 3 == 0 else SHORT[i % len(SHORT)] for i, p in enumerate(PRACTICES)}
            )
            assess.append(row)
    counts["assessments"] = import_assessments(
        engine, _csv(assess), "hostile assessments.csv", config=config, user=user
    ).inserted

    # Meetings (imported: hostile ids, chairs, people and notes) and decisions (imported and typed).
    meeting_refs = [_at(64, SHORT[n]) for n in range(2)]
    meetings = []
    for n, ref in enumerate(meeting_refs):
        day = ms[-1 - n] + dt.timedelta(days=20)
        for person in ("Richard Osei", "Lars Nilsson", USER, SHORT[n + 5]):
            meetings.append(
                {
                    "meeting": ref,
                    "type": "executive S&OP",
                    "date": f"{day:%Y-%m-%d}",
                    "chair": USER if n == 0 else _at(120, SHORT[n + 2]),
                    "person": person,
                    "invited": "yes",
                    "attended": "no" if person == "Lars Nilsson" else "yes",
                    "notes": _at(10_000, MULTILINE),
                }
            )
    counts["meetings"] = import_meetings(
        engine, _csv(meetings), "hostile meetings.csv", config=config, user=user
    ).inserted
    decisions = [
        {
            "ref": _at(64, SHORT[n + 3]),
            "text": _at(2000, SHORT[n] + " " + MULTILINE),
            "raised_on": f"{ms[-1 - n] + dt.timedelta(days=20):%Y-%m-%d}",
            "decided_on": "",
            "owner": ("Richard Osei", USER, SHORT[6])[n],
            "meeting": meeting_refs[n % 2],
            "kpi": "otif",
        }
        for n in range(3)
    ]
    counts["decisions"] = import_decisions(
        engine, _csv(decisions), "hostile decisions.csv", config=config, user=user
    ).inserted
    raise_decision(
        engine,
        decision=DecisionInput(text=_at(2000, MULTILINE), raised_on=ms[-2], owner="Lars Nilsson", kpi_id="fill_rate"),
        config=config,
        user=user,
    )
    return counts
