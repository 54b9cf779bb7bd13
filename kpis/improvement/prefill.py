"""What a page hands the Actions page to open its create form prefilled ("action_prefill" in session state).

Any page builds one of these dicts, puts it in ``st.session_state["action_prefill"]`` and switches to
the Actions page, which pops it and opens its form with these values (:func:`form_values`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from kpis import formatting
from kpis.config import KPI, PRACTICES

KEYS = (
    "title",
    "description",
    "type",
    "source",
    "review_id",
    "decision_id",
    "source_note",
    "practice",
    "kpi_id",
    "segment",
    "expected_direction",
    "owner",
    "sponsor",
    "priority",
    "due_date",
)
SESSION_KEY = "action_prefill"
OPEN_ACTION = "open_action"  # session key: the action id the Actions page should open
OPEN_REVIEW = "open_review"  # session key: the review id the Reviews page should open
PAGE_ACTIONS = "pages/actions.py"
PAGE_REVIEWS = "pages/reviews.py"


def improving_direction(kpi: KPI) -> str | None:
    """The direction that would improve a KPI ('higher'/'lower'); None for a target band (the person chooses)."""
    return kpi.direction if kpi.direction in ("higher", "lower") else None


def from_review(review: dict[str, Any], kpis: dict[str, KPI] | None = None) -> dict[str, Any]:
    """A follow-up action of a review: its first practice and first KPI (with the direction that would improve
    it, when the catalog is given), source 'pir'."""
    catalog = kpis
    kpis = review.get("kpis") or []
    practices = [p for p in review.get("practices") or [] if p in PRACTICES]
    out: dict[str, Any] = {
        "source": "pir",
        "review_id": review["id"],
        "type": "improvement",
        "source_note": f"Review #{review['id']}: {review['initiative']}"[:255],
        "practice": practices[0] if practices else "improvement",
    }
    if kpis:
        out["kpi_id"] = kpis[0]["kpi_id"]
        kpi = (catalog or {}).get(out["kpi_id"])
        if kpi is not None:
            out["expected_direction"] = improving_direction(kpi)
    return out


def from_kpi(
    kpi: KPI, segment: str = "", *, status: str | None = None, period_label: str | None = None
) -> dict[str, Any]:
    """An action on a KPI seen on KPI trends: the KPI, segment and the direction that would improve it."""
    where = f" ({segment})" if segment else ""
    note = f"KPI {kpi.name}{where}" + (f" {status} in {period_label}" if status and period_label else "")
    return {
        "source": "kpi_exception",
        "type": "corrective",
        "kpi_id": kpi.id,
        "segment": segment,
        "expected_direction": improving_direction(kpi),
        "owner": kpi.owner,
        "practice": kpi.practices[0] if kpi.practices else "evaluation",
        "title": f"Bring {kpi.name}{where} back on target"[:200],
        "source_note": note[:255],
    }


def from_exception(item: str, *, why: str, wape: float | None, bias: float | None, ts: float | None) -> dict[str, Any]:
    """An action on a forecast exception item: the item and its error in the note."""
    parts = [why] if why else []
    ts, wape, bias = (None if v is None or math.isnan(v) else v for v in (ts, wape, bias))  # NaN = not known
    if ts is not None:
        parts.append(f"tracking signal {ts:.1f}")
    if wape is not None:
        parts.append(f"WAPE {formatting.pct(wape)}")  # as the work list shows it
    if bias is not None:
        parts.append(f"bias {formatting.pct(bias, signed=True)}")
    return {
        "source": "kpi_exception",
        "type": "corrective",
        "practice": "evaluation",
        "title": f"Fix the forecast of {item}"[:200],
        "source_note": f"Forecast exception {item}: {', '.join(parts)}"[:255],
    }


def from_decision(decision: dict[str, Any]) -> dict[str, Any]:
    """An action carrying out a decision of the S&OP meeting."""
    return {
        "source": "meeting_decision",
        "decision_id": decision["id"],
        "type": "improvement",
        "title": str(decision["text"])[:200],
        "owner": decision.get("owner"),
        "kpi_id": decision.get("kpi_id"),
        "source_note": f"Decision #{decision['id']}",
    }


def form_values(prefill: dict[str, Any] | None, *, today: dt.date) -> dict[str, Any]:
    """Values for the create form: defaults overlaid with the known keys of a prefill (unknown keys ignored)."""
    values: dict[str, Any] = {
        "title": "",
        "description": "",
        "type": "improvement",
        "source": "other",
        "review_id": None,
        "decision_id": None,
        "source_note": "",
        "practice": "improvement",
        "kpi_id": None,
        "segment": "",
        "expected_direction": None,
        "owner": "",
        "sponsor": "",
        "priority": "medium",
        "due_date": today + dt.timedelta(days=30),
    }
    for k, v in (prefill or {}).items():
        if k in KEYS and v is not None:
            values[k] = v
    if isinstance(values["due_date"], str):
        try:
            values["due_date"] = dt.date.fromisoformat(values["due_date"])
        except ValueError:
            values["due_date"] = today + dt.timedelta(days=30)
    return values
