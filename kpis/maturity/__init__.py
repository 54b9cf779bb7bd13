"""Integration maturity: quarterly assessments of the ten practices against the rubric, and their aggregation."""
