"""Improvement charts: user text is inert in Plotly, the verdict chart shows before, after, limits and completion."""

import pandas as pd

from kpis.improvement import charts, effect


def test_plotly_text_escapes_markup():
    assert charts.plotly_text("<b>x</b> & <a href='y'>") == "&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href=&#x27;y&#x27;&gt;"


def test_effect_figure_has_before_after_limits_and_completion(config):
    months = pd.date_range("2024-01-01", periods=12, freq="MS")
    values = [10, 12, 11, 13, 12.5, 14, 16.5, 17, 18, 19, 17.5, 18.5]
    v = effect.judge(values, months, months[6], direction="higher")
    series = pd.DataFrame({"period": months, "value": values})
    fig = charts.effect_figure(series, months[6].date(), v, config.kpi_by_id["inventory_turns"], title="<b>t</b>")
    names = [t.name for t in fig.data]
    assert names[:2] == ["Before (baseline)", "After"] and "Baseline centre" in names
    assert len(fig.data[0].x) == 6 and len(fig.data[1].x) == 6
    assert fig.layout.title.text == "&lt;b&gt;t&lt;/b&gt;"
    assert any("completed 2024-07-01" in a.text for a in fig.layout.annotations)


def test_open_and_on_time_figures_build():
    df = pd.DataFrame({"month": pd.date_range("2026-01-01", periods=2, freq="MS"), "open": [3, 2], "overdue": [1, 0]})
    assert len(charts.open_over_time_figure(df).data) == 2
    table = pd.DataFrame({"group": ["<i>Bo</i>"], "n": [2], "on_time": [1], "rate": [0.5]})
    fig = charts.on_time_figure(table, "sponsor")
    assert list(fig.data[0].y) == ["&lt;i&gt;Bo&lt;/i&gt;"] and list(fig.data[0].text) == ["50 % of 2"]
