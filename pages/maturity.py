"""Maturity: where the organisation stands on the ten practices, where teams disagree, whether maturity
rises, whether it shows in the KPIs, and who has answered."""

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from kpis import catalog, safety, spc
from kpis.maturity import actions as maturity_actions
from kpis.maturity import aggregate, assessments, levels, relation, rubric
from kpis.maturity import charts as mcharts
from kpis.maturity.assessments import quarter_label
from pages import _ui

cfg = _ui.config()
eng = _ui.engine()
user = _ui.user()
rub = rubric.rubric(cfg)
targets = cfg.maturity.targets
COLUMNS = {
    "n": st.column_config.NumberColumn("n", help='Answers other than "don\'t know"'),
    "dont_know": st.column_config.NumberColumn("Don't know"),
    "no_consensus": st.column_config.CheckboxColumn("No consensus", help="spread (max − min) ≥ 2"),
    "median": st.column_config.NumberColumn("Median", format="%.2f"),
    "mean": st.column_config.NumberColumn("Mean", format="%.2f"),
    "spread": st.column_config.NumberColumn("Spread", help="max − min of the answers"),
    "gap": st.column_config.NumberColumn("Gap to target", format="%.2f", help="target − median"),
}

st.title("Integration maturity")
scores = _ui.assessment_scores()
if scores.empty:
    st.info(
        "No maturity assessments yet. Teams score the ten practices on the **Assess maturity** page, or an "
        "editor imports a survey export with `python -m kpis import assessments FILE` or on the Data page.",
        icon=":material/info:",
    )
    st.page_link(_ui.PAGE_ASSESS, label="Go to the Assess page", icon=":material/checklist:")
    st.stop()

summary = aggregate.summarise(scores, targets)
by_team = aggregate.summarise(scores, targets, by=("period", "team"))
latest, previous = aggregate.latest_periods(summary)
index = aggregate.index_series(summary)
tr, trend_words = aggregate.index_trend(index)
now = index[index["period"] == latest].iloc[0]
before = index[index["period"] == previous].iloc[0] if previous is not None else None
flagged = summary[(summary["period"] == latest) & summary["no_consensus"].astype(bool)]

m1, m2, m3, m4 = st.columns(4)
m1.metric(
    f"Maturity index {quarter_label(latest)}",
    f"{now['index']:.2f}",
    None if before is None else f"{now['index'] - before['index']:+.2f} vs {quarter_label(previous)}",
    help="Mean of the ten practice medians (practices nobody scored are left out); levels 1–5",
)
m2.metric(
    "Respondents",
    int(now["respondents"]),
    None if before is None else f"{int(now['respondents'] - before['respondents']):+d}",
    delta_color="off",
)
m3.metric(
    "No consensus",
    f"{len(flagged)} practice{'s' if len(flagged) != 1 else ''}",
    help="Practices whose answers in the latest quarter span 2 levels or more",
)
m4.metric(
    "Trend",
    aggregate.trend_label(tr),
    None if tr is None else f"{tr.slope:+.2f} a quarter",
    delta_color="normal" if tr is not None and tr.p_value < spc.ALPHA else "off",
    help="Theil–Sen slope of the quarterly index; 'rising' or 'falling' only when Kendall's test finds a trend "
    "(p < 0.05)",
)
st.caption(
    f"Trend: {trend_words} (Theil–Sen slope, Kendall's test; {len(index)} quarter{'s' if len(index) != 1 else ''})."
)

tab_overview, tab_teams, tab_gaps, tab_kpis, tab_people = st.tabs(
    ["Overview", "Teams and consensus", "Where to act", "Maturity and KPIs", "Participation"]
)

with tab_overview:
    left, right = st.columns([11, 10])
    left.plotly_chart(mcharts.radar(summary, latest, previous, targets), key="mat_radar")
    mean_target = float(np.mean(list(targets.values()))) if targets else None
    right.plotly_chart(
        mcharts.index_figure(index, mean_target, (tr.slope, tr.intercept) if tr else None), key="mat_index"
    )
    if previous is None:
        st.caption(
            "Only one quarter answered so far: the previous quarter and the trend appear once a second "
            "(and third) quarter is assessed."
        )
    st.plotly_chart(mcharts.small_multiples(summary, targets), key="mat_multiples")
    st.subheader("Per quarter and practice", anchor=False)
    table = aggregate.for_export(summary).assign(practice=lambda d: d["practice"].map(rubric.practice_name))
    st.dataframe(table, hide_index=True, width="stretch", key="mat_summary", column_config=COLUMNS)
    st.caption(
        "The overall row: n = respondents, median = the maturity index, mean = mean of the practice means, "
        "target = mean of the targets of the practices scored."
    )
    _ui.download_buttons(aggregate.for_export(summary), "maturity_by_quarter", "mat_summary_dl")

quarters = sorted(summary["period"].unique(), reverse=True)

with tab_teams:
    q = st.selectbox("Quarter", quarters, format_func=quarter_label, key="mat_team_period")
    rows = by_team[by_team["period"] == q]
    st.plotly_chart(mcharts.heatmap(rows), key="mat_heatmap")
    absent = sorted(set(assessments.teams(scores)) - set(rows["team"]))
    if absent:
        st.caption(f"No answers from {safety.md(', '.join(absent))} in {quarter_label(q)} (see Participation).")
    st.subheader(f"No consensus in {quarter_label(q)}", anchor=False)
    org = summary[(summary["period"] == q) & summary["no_consensus"].astype(bool)].assign(team="All teams")
    disputes = pd.concat([org, rows[rows["no_consensus"].astype(bool)]], ignore_index=True)
    if disputes.empty:
        st.caption("Every practice's answers lie within one level of each other: no disagreement to discuss.")
    else:
        st.caption(
            "Practices whose answers span two levels or more. Worth a conversation before acting: people "
            "may see different parts of the process."
        )
        view = pd.DataFrame(
            {
                "team": disputes["team"],
                "practice": disputes["practice"].map(rubric.practice_name),
                "n": disputes["n"],
                "lowest": disputes["min"],
                "highest": disputes["max"],
                "spread": disputes["spread"],
                "median": disputes["median"],
            }
        )
        st.dataframe(view, hide_index=True, width="stretch", key="mat_disputes")
        _ui.download_buttons(view, f"no_consensus_{quarter_label(q)}", "mat_disputes_dl")
    st.subheader("By team", anchor=False)
    team_table = aggregate.for_export(rows).assign(practice=lambda d: d["practice"].map(rubric.practice_name))
    st.dataframe(team_table, hide_index=True, width="stretch", key="mat_team_table", column_config=COLUMNS)
    _ui.download_buttons(team_table, f"maturity_by_team_{quarter_label(q)}", "mat_team_dl")
    comments = scores[(scores["period"] == q) & scores["comment"].notna()]
    if len(comments):
        with st.expander(f"Comments in {quarter_label(q)} ({len(comments)})"):
            ctable = pd.DataFrame(
                {
                    "team": comments["team"],
                    "practice": comments["practice"].map(rubric.practice_name),
                    "score": comments["score"],
                    "comment": comments["comment"],
                }
            )
            st.dataframe(ctable, hide_index=True, width="stretch", key="mat_comments")
            _ui.download_buttons(ctable, f"maturity_comments_{quarter_label(q)}", "mat_comments_dl")

with tab_gaps:
    q = st.selectbox("Quarter", quarters, format_func=quarter_label, key="mat_gap_period")
    open_actions = maturity_actions.open_actions(eng)
    ranking = maturity_actions.with_actions(aggregate.gap_ranking(summary, q), open_actions)
    st.caption(
        "Practices ordered by how far their median is below the target level. Start where the gap is large "
        "and few actions are open."
    )
    gaps = pd.DataFrame(
        {
            "practice": ranking["practice"].map(rubric.practice_name),
            "median": ranking["median"],
            "target": ranking["target"],
            "gap": ranking["gap"],
            "no_consensus": ranking["no_consensus"],
            "open_actions": ranking["open_actions"],
        }
    )
    st.dataframe(
        gaps,
        hide_index=True,
        width="stretch",
        key="mat_gaps",
        column_config={
            "gap": st.column_config.ProgressColumn("Gap to target", min_value=0, max_value=4, format="%.1f"),
            "no_consensus": st.column_config.CheckboxColumn("No consensus"),
            "open_actions": st.column_config.NumberColumn("Open actions"),
        },
    )
    _ui.download_buttons(gaps, f"maturity_gaps_{quarter_label(q)}", "mat_gaps_dl")
    can_create = Path(_ui.PAGE_ACTIONS).is_file() and user.can("manage_actions")
    for _, r in ranking[ranking["gap"] > 0].iterrows():
        p = r["practice"]
        acts = open_actions[open_actions["practice"] == p]
        with st.expander(
            f"{rubric.practice_name(p)} — median {r['median']:g}, target {r['target']:g}, "
            f"{len(acts)} open action{'s' if len(acts) != 1 else ''}"
        ):
            nxt = levels.next_level(r["median"])
            st.caption(f"Next level ({rub.level_name(nxt)}): {rub.text(p, nxt)}")
            if len(acts):
                st.dataframe(acts.drop(columns=["practice"]), hide_index=True, width="stretch", key=f"mat_acts_{p}")
                _ui.download_buttons(acts, f"open_actions_{p}", f"mat_acts_dl_{p}")
            else:
                st.caption("No open improvement action for this practice.")
            if can_create and st.button(
                "Create an improvement action", key=f"mat_new_action_{p}", icon=":material/add_task:"
            ):
                st.session_state["action_prefill"] = {
                    "practice": p,
                    "type": "improvement",
                    "source": "other",
                    "title": f"Raise {rubric.short_name(p).lower()} to {rub.level_name(nxt)}",
                }
                _ui.go(_ui.PAGE_ACTIONS)

with tab_kpis:
    measures = ["overall", *targets] if targets else ["overall"]
    c1, c2 = st.columns([1, 2])
    measure = c1.selectbox("Maturity", measures, format_func=rubric.practice_name, key="mat_measure")
    default = [k for k in ("forecast_accuracy", "forecast_bias") if k in cfg.kpi_by_id]
    chosen = c2.multiselect(
        "KPIs", list(cfg.kpi_by_id), default=default, key="mat_kpis", format_func=lambda k: cfg.kpi_by_id[k].name
    )
    series = relation.practice_series(summary, measure)
    totals = _ui.totals()
    for kid in chosen:
        kpi = cfg.kpi_by_id[kid]
        kq = relation.quarterly_kpi(totals[totals["kpi_id"] == kid], kpi)
        rel = relation.compare(series, kq, kpi)
        st.subheader(kpi.name, anchor=False)
        st.markdown(rel.text)
        st.caption(
            rel.caution + (f" Left out (no complete KPI quarter): {', '.join(rel.left_out)}." if rel.left_out else "")
        )
        scale = catalog.display_scale(kpi)
        st.plotly_chart(
            mcharts.relation_figure(rel.table, rubric.practice_name(measure), kpi.name, scale), key=f"mat_rel_{kid}"
        )
        out = rel.table.drop(columns=["period"]).rename(
            columns={
                "label": "quarter",
                "kpi": kid,
                "maturity": measure,
                "kpi_complete": "complete_kpi_quarter",
                "used": "used_in_rho",
            }
        )
        st.dataframe(out, hide_index=True, width="stretch", key=f"mat_rel_table_{kid}")
        _ui.download_buttons(out, f"maturity_vs_{kid}", f"mat_rel_dl_{kid}")

with tab_people:
    part = assessments.participation(scores)
    wide = part.pivot(index="team", columns="period", values="respondents").fillna(0).astype(int)
    wide.columns = [quarter_label(c) for c in wide.columns]
    wide = wide.reset_index()
    st.subheader("Respondents per quarter and team", anchor=False)
    st.dataframe(wide, hide_index=True, width="stretch", key="mat_participation")
    _ui.download_buttons(wide, "maturity_participation", "mat_participation_dl")
    this_q = assessments.current_quarter()
    missing = assessments.not_answered(scores, this_q)
    st.subheader(f"Not answered yet in {quarter_label(this_q)}", anchor=False)
    st.caption(
        f"People who answered in one of the {assessments.LOOKBACK} quarters before {quarter_label(this_q)} "
        "but not yet in it."
    )
    if missing.empty:
        st.caption("Everyone who answered recently has answered this quarter.")
    else:
        st.dataframe(missing, hide_index=True, width="stretch", key="mat_missing")
        _ui.download_buttons(missing, f"not_answered_{quarter_label(this_q)}", "mat_missing_dl")
