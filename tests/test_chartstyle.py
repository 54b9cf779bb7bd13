"""The charts' shared style (kpis.chartstyle): axes and tooltips in the app's number format."""

from kpis import chartstyle


def test_value_axis_and_tooltips_keep_small_quantities_readable():
    assert "format(datum.value, ',.4~g')" in chartstyle.y_axis("Units", False)["labelExpr"]  # 0.4, not 400m
    assert [chartstyle.amount(v) for v in (0.4, 2.0, 1234.5, 12.25, float("nan"))] == ["0.4", "2", "1,234", "12.2", "–"]
