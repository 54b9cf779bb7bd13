"""Audit log (admins): who changed what and when, with before and after; filters, paging and an Excel export
(kpis.auditlog checks the admin role)."""

import datetime as dt

import streamlit as st

from kpis import auditlog, export, safety
from kpis.access.users import NotAllowed
from pages import _ui

cfg = _ui.config()
eng = _ui.engine()
user = _ui.user()
st.title("Audit log")

try:
    people, kinds = auditlog.choices(eng, user)
except NotAllowed:
    st.error(
        f"The audit log is for admins only. You are signed in as {safety.md(user.display or user.name)} ({user.role}).",
        icon=":material/lock:",
    )
    st.stop()

st.caption(
    "Every write in the app, newest first: who, when (UTC), the record, and what it held before and after. "
    "The app only ever appends to this log."
)
c1, c2, c3, c4 = st.columns([1.3, 1.3, 1, 1])
shown_as = auditlog.people_names(eng, people)
actors = c1.multiselect(
    "Person", people, key="audit_actors", placeholder="Everyone", format_func=lambda a: shown_as.get(a, a)
)
entities = c2.multiselect(
    "Record type", kinds, key="audit_entities", placeholder="All records", format_func=lambda e: e.replace("_", " ")
)
since = c3.date_input("From", value=None, key="audit_since", format="YYYY-MM-DD")
until = c4.date_input("To", value=None, key="audit_until", format="YYYY-MM-DD")
filters = auditlog.Filters(tuple(actors), tuple(entities), since, until)

total = auditlog.count(eng, user, filters)
pages = max(1, -(-total // auditlog.PAGE_SIZE))
page = 1
if pages > 1:
    page = int(st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1, key="audit_page"))
result = auditlog.search(eng, user, filters, offset=(page - 1) * auditlog.PAGE_SIZE, config=cfg)
st.caption(result.shown_text)
if result.total == 0:
    st.info("No audit events match these filters.", icon=":material/info:")
    st.stop()
event = st.dataframe(
    result.rows,
    hide_index=True,
    width="stretch",
    key="audit_table",
    on_select="rerun",
    selection_mode="single-row",
    height=min(38 + 35 * len(result.rows), 720),
    column_config={
        "Who": st.column_config.TextColumn("Who", width="medium"),  # source:NAME and display names in full
        "What": st.column_config.TextColumn("What", width="medium"),
        "Before": st.column_config.TextColumn("Before", width="medium"),
        "After": st.column_config.TextColumn("After", width="medium"),
    },
)
picked = event.selection.rows if event is not None and hasattr(event, "selection") else []
if picked:
    row = result.rows.iloc[picked[0]]
    with st.container(border=True):
        st.text(f"{row['When (UTC)']} UTC · {row['Who']} · {row['Action']} · {row['Record']}")
        st.text(row["What"])
        b, a = st.columns(2)
        b.caption("Before")
        b.text(row["Before"] or "–")
        a.caption("After")
        a.text(row["After"] or "–")
else:
    st.caption("Select a row to read it in full.")

if st.toggle(f"Prepare an Excel file of the {min(total, auditlog.MAX_EXPORT):,} matching events", key="audit_export"):
    rows = auditlog.export_rows(eng, user, filters, config=cfg)
    st.download_button(
        "Download Excel",
        export.excel_bytes(rows, "audit log"),
        file_name=auditlog.file_name(filters, dt.date.today()) + ".xlsx",
        key="audit_xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:",
        type="primary",
    )
    if total > auditlog.MAX_EXPORT:
        st.caption(f"The file holds the newest {auditlog.MAX_EXPORT:,}; narrow the filters for older events.")
