"""The executive sponsorship domain: the S&OP meeting cycle, decisions, and a scorecard per executive.

Modules, one concern each:

* ``meetings``   log or correct a meeting (invited and attended people, notes, decisions), cycle adherence
* ``decisions``  raise a decision (pending), decide it later, the decision register
* ``scorecard``  the seven figures per executive and quarter, status from config, change, portfolio, trends
* ``measures``   attendance, decision latency and actions on time over a span, for one person or everyone
* ``load``       imports of meetings (one row per meeting and person) and decisions
* ``export``     the portfolio as an Excel workbook
* ``demo``       the demo company's meetings and decisions

docs/methodology.md ("Executive sponsorship scorecard") says how every figure is computed.
"""
