"""Integration maturity: the rubric, quarterly assessments, their aggregation and their link to KPIs.

Modules: ``rubric`` (levels, texts and targets from config), ``assessments`` (submit, replace, read,
participation), ``aggregate`` (medians, spread, index, gap), ``relation`` (maturity beside a KPI),
``load`` (the assessments import), ``charts`` (figures) and ``demo``.
"""
