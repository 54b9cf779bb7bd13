"""Data: upload KPI actuals (and forecast data), past imports, and how current each KPI is."""

from pathlib import Path

import streamlit as st

from kpis import auditlog as audit_text
from kpis import safety
from kpis import series as kpi_series
from kpis.access import people
from kpis.access.users import NotAllowed
from kpis.catalog import overview
from kpis.forecast import views as forecast_views
from kpis.imports import job as import_job
from kpis.imports.problems import ImportFailed
from kpis.imports.read import excel_sheets
from kpis.store import repo
from pages import _sources, _ui

cfg = _ui.config()
eng = _ui.engine()
user = _ui.user()
st.title("Data")

KINDS = {
    "actuals": "KPI actuals",
    "demand": "Demand actuals (forecast accuracy)",
    "forecasts": "Forecast snapshots (forecast accuracy)",
    "assessments": "Maturity assessments (survey export)",
    "meetings": "S&OP meetings (attendance)",
    "decisions": "S&OP decisions",
    "actions": "Improvement action log",
    "comments": "KPI commentary",
}
TABLE_ONLY = (
    "actuals",
    "assessments",
    "meetings",
    "decisions",
    "actions",
    "comments",
)  # CSV or Excel only (no Parquet)
SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"

up, samples = st.columns([3, 2])
with up:
    st.subheader("Import a file")
    if not user.can("import"):
        st.info(
            f"You are signed in as {safety.md(user.display or user.name)} ({user.role}). "
            "Importing needs the editor or admin role."
        )
    else:
        kind = st.radio("What is in the file?", list(KINDS), format_func=KINDS.get, key="data_kind", horizontal=True)
        st.caption(
            {
                "actuals": "Long layout `kpi,period,value[,segment,note]` or wide layout "
                "`kpi[,segment],<period>,<period>,…`. Periods as ISO dates, `YYYY-MM`, `YYYY-Qn` or `YYYY-Www`; "
                "percentages as fractions (0.87).",
                "demand": "`item,period,actual` plus attribute columns (family, region, channel, …).",
                "forecasts": "`item,period,lag,stage,forecast` (or `snapshot` instead of `lag`).",
                "assessments": "`respondent,team,period` (quarter `YYYY-Qn`), one column per practice id "
                '(`collaboration` … `evaluation`) with 1–5 or empty for "don\'t know", optional `function`, '
                "`comment` and `comment_<practice>`. A respondent's quarter already stored is replaced.",
                "meetings": "One row per meeting and person: "
                "`meeting,type,date,chair,person,invited,attended[,notes]`; `meeting` = your own meeting id "
                "(re-importing it updates the meeting); invited/attended yes/no, true/false or 1/0.",
                "decisions": "`ref,text,raised_on,decided_on,owner,meeting,kpi`; empty `decided_on` = pending; "
                "`meeting` = a meeting id already imported; `kpi` = a catalog id. Re-importing a ref updates it.",
                "actions": "`ref,title,owner,practice,due_date` plus optional "
                "`kpi,segment,expected_direction,sponsor,type,priority,status,completed_on,description`; "
                "dates as YYYY-MM-DD; re-importing a ref updates it.",
                "comments": "`kpi,period,segment,author,text`: one comment per KPI, period and segment (empty = the "
                "total); re-importing one changes its author and text.",
            }[kind]
        )
        types = ["csv", "xlsx"] + (["parquet"] if kind not in TABLE_ONLY else [])
        file = st.file_uploader(
            "CSV, Excel" + (" or Parquet" if kind not in TABLE_ONLY else "") + f" (up to {cfg.app.max_upload_mb:g} MB)",
            type=types,
            key="data_file",
        )
        sheet = None
        if file is not None and file.name.lower().endswith((".xlsx", ".xlsm")):
            try:
                sheets = excel_sheets(file.getvalue())
            except Exception:
                sheets = []
            if len(sheets) > 1:
                names = [n for n, _ in sheets]
                first_with_data = next((n for n, has in sheets if has), names[0])
                sheet = st.selectbox(
                    "Sheet to read",
                    names,
                    index=names.index(first_with_data),
                    key="data_sheet",
                    format_func=lambda n: n + ("" if dict(sheets)[n] else " (no data)"),
                )
            elif sheets:
                st.caption(f"Reading sheet '{safety.md(sheets[0][0])}'.")
        if file is not None and st.button("Import", type="primary", key="data_import", icon=":material/upload:"):
            st.session_state["data_job"] = import_job.upload(
                eng, kind, file.getvalue(), file.name, config=cfg, user=user, sheet=sheet
            )
    job = st.session_state.get("data_job")

    @st.fragment(run_every=0.5 if job is not None and not job.done else None)
    def import_status() -> None:
        """The running import's progress and its Cancel button, looked at twice a second; when it ends, the
        whole page runs again to show the outcome and the import history."""
        job = st.session_state.get("data_job")
        if job is None:
            return
        if not job.done:
            st.progress(job.fraction, text=job.text)
            if st.button("Cancel", key="data_cancel", icon=":material/cancel:"):
                job.cancel()
            return
        st.session_state["data_outcome"] = st.session_state.pop("data_job")
        st.rerun()

    import_status()
    done = st.session_state.pop("data_outcome", None)
    if done is not None:
        e = done.error
        if done.cancelled:
            st.warning(f"**{safety.md(done.name)} was not imported**: cancelled, nothing was written.")
        elif isinstance(e, ImportFailed):
            st.error(
                f"**{safety.md(done.name)} was not imported** — nothing was written. "
                f"{e.total} problem{'s' if e.total != 1 else ''} found"
                f"{f' (showing the first {len(e.problems)})' if e.total > len(e.problems) else ''}:"
            )
            st.dataframe(overview.problems_table(e.problems), hide_index=True, width="stretch", key="data_problems")
        elif isinstance(e, NotAllowed):
            st.error(safety.md(str(e)))
        elif e is not None:
            raise e
        else:
            (st.success if done.result.changed else st.info)(safety.md(done.result.summary()))
with samples:
    st.subheader("Sample files")
    st.caption("Every import format, ready to copy.")
    for f in sorted(SAMPLES.glob("*.*")):
        st.download_button(
            f.name,
            f.read_bytes(),
            file_name=f.name,
            key=f"sample_{f.name}",
            icon=":material/download:",
            type="tertiary",
        )

_sources.show(cfg, eng, user)

st.subheader("Past imports")
history = repo.import_history(eng)
if history.empty:
    st.info("No imports yet.")
else:
    st.dataframe(
        overview.history_table(people.show_columns(eng, history, ("who",))),
        hide_index=True,
        width="stretch",
        key="data_history",
    )

st.subheader("Data current through")
computed = kpi_series.computed_values(eng, cfg)  # from the forecast data and from the records
st.dataframe(
    overview.data_freshness(repo.current_through(eng), cfg, computed),
    hide_index=True,
    width="stretch",
    key="data_freshness",
)
cube = _ui.forecast_cube()
st.caption(
    "Forecast data: "
    + (
        forecast_views.data_summary(cube)
        if cube is not None
        else "none yet — import demand actuals, then forecast snapshots."
    )
)

# Late data: values due by the KPI's due_days and not received by today (kpis.catalog.freshness).

from kpis.catalog import freshness

st.subheader("Late data")
late_day = freshness.today()
late = _ui.late_data(late_day)
if late.empty:
    st.caption("Nothing overdue: every value due before today has arrived (due dates: `due_days` in config.toml).")
else:
    st.caption(f"Values due before {late_day.day} {late_day:%b %Y} and not received, oldest first.")
    st.dataframe(freshness.late_table(late, late_day), hide_index=True, width="stretch", key="data_late")

with st.expander("Values changed by an import"):
    log = repo.audit_log(eng, limit=5000, entities=("import_batch", "kpi_value"))
    batches = [int(i) for i in log.loc[log["entity"] == "import_batch", "entity_id"].dropna().unique()]
    if not batches:
        st.caption("No imports yet.")
    else:
        b = st.selectbox(
            "Values changed by import", batches, key="data_audit_batch", format_func=lambda i: f"Import #{i}"
        )
        changes = audit_text.import_changes(log, b, cfg)
        if changes.empty:
            st.caption(f"Import #{b} only added new values; no stored value changed.")
        else:
            st.dataframe(changes, hide_index=True, width="stretch", key="data_audit_changes")
            _ui.csv_button(changes, f"import_{b}_changed_values", "data_audit_changes_csv")
if user.can("admin"):
    st.page_link(
        _ui.PAGE_AUDIT, label="Audit log: every write, who and when, before and after", icon=":material/history:"
    )
