"""Exports: one review as a Markdown document, lists as Excel with formula-neutralised cells."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pandas as pd

from kpis import safety
from kpis.config import PRACTICES
from kpis.safety import spreadsheet_cell


def escape_md(text: Any) -> str:
    """User text made inert for Markdown: special characters escaped, no autolinks, line breaks kept
    (kpis.safety.md)."""
    return safety.md(text)


def neutralise(value: Any) -> Any:
    """A cell that a spreadsheet would run as a formula gets a leading apostrophe (kpis.safety)."""
    return spreadsheet_cell(value)


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Every text cell neutralised; lists joined; timezone-aware stamps made naive UTC (Excel cannot hold zones)."""
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC").dt.tz_localize(None)
        elif pd.api.types.is_object_dtype(out[c]) or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(lambda v: ", ".join(map(str, v)) if isinstance(v, list) else v).map(neutralise)
            if out[c].map(lambda v: hasattr(v, "tzinfo") and v.tzinfo is not None).any():
                out[c] = pd.to_datetime(out[c], utc=True).dt.tz_localize(None)
    return out


def to_excel(sheets: dict[str, pd.DataFrame]) -> bytes:
    """An .xlsx file with one sheet per frame, text cells formula-neutralised."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        for name, df in sheets.items():
            safe = safe_frame(df)
            for c in safe.columns:
                if safe[c].dtype == object or pd.api.types.is_string_dtype(safe[c]):
                    safe[c] = safe[c].map(safety.excel_cell)
            safe.to_excel(xw, sheet_name=name[:31], index=False)
    return buf.getvalue()


def _number(v: Any) -> str:
    return "—" if v is None or (isinstance(v, float) and pd.isna(v)) else f"{v:g}"


def review_markdown(
    review: dict[str, Any],
    *,
    kpi_names: dict[str, str] | None = None,
    value_format: Callable[[str, float], str] | None = None,
    top: int = 1,
    author: str | None = None,
) -> str:
    """A review as a Markdown document (title at heading level `top`); every user-typed text is escaped, so it
    renders as plain text. `value_format(kpi_id, value)` formats KPI figures (default: the stored number);
    `author`: the name shown for who submitted it (kpis.access.people.name; default: the stored key)."""
    kpi_names = kpi_names or {}
    e = escape_md
    h1, h2 = "#" * top, "#" * (top + 1)

    def num(kpi_id: str, v: Any) -> str:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return "—"
        return e(value_format(kpi_id, v)) if value_format else _number(v)

    practices = ", ".join(PRACTICES.get(p, p) for p in review.get("practices") or [])
    status = "Draft" if review.get("status") == "draft" else "Submitted"
    lines = [
        f"{h1} {e(review['initiative'])}",
        "",
        (
            f"**Review date** {review['review_date']} · **Period** {review.get('period') or '—'} · "
            f"**Rating** {review['rating']}/5 · **{status}**"
        ),
        "",
        f"**Team** {e(review.get('team')) or '—'} · **Facilitator** {e(review.get('facilitator')) or '—'}",
        "",
        f"**Participants** {e(', '.join(review.get('participants') or [])) or '—'}",
        "",
        f"**Practices** {e(practices) or '—'}",
        "",
    ]
    from kpis.improvement.reviews import TEXT_FIELDS

    for field, heading in TEXT_FIELDS.items():
        if field == "root_cause":
            heading += f" — method: {e(review.get('root_cause_method'))}"
        lines += [f"{h2} {heading}", "", e(review.get(field)) or "—", ""]
    lines += [f"{h2} KPIs", ""]
    if review.get("kpis"):
        lines += ["| KPI | Baseline | Target | Actual |", "|---|---|---|---|"]
        for k in review["kpis"]:
            lines.append(
                f"| {e(kpi_names.get(k['kpi_id'], k['kpi_id']))} | {num(k['kpi_id'], k.get('baseline'))} | "
                f"{num(k['kpi_id'], k.get('target'))} | {num(k['kpi_id'], k.get('actual'))} |"
            )
    else:
        lines.append("No KPI recorded.")
    lines += ["", f"{h2} Follow-up actions", ""]
    if review.get("follow_up"):
        for a in review["follow_up"]:
            verdict = f", verdict {a['verdict']}" if a.get("verdict") else ""
            lines.append(
                f"- \\#{a['id']} {e(a['title'])} — {e(a['owner'])}, due {a['due_date']}, {a['status']}{verdict}"
            )
    else:
        lines.append("None yet.")
    by = author or review.get("submitted_by") or review.get("created_by")
    at = review.get("submitted_at") or review.get("created_at")
    verb = "Drafted" if review.get("status") == "draft" else "Submitted"
    lines += ["", f"*{verb} by {e(by)}, {at:%Y-%m-%d %H:%M} UTC*" if at is not None else ""]
    return "\n".join(lines).rstrip() + "\n"
