"""Migration 0002 keeps existing reviews and actions (SQLite and PostgreSQL) and can be rolled back."""

import datetime as dt

from sqlalchemy import text

from kpis.store.engine import downgrade, upgrade

NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def test_upgrade_keeps_reviews_and_actions(engine):
    downgrade(engine, "0001")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO review (initiative, practices, review_date, team, facilitator, participants, "
                "objectives, planned, happened, root_cause, root_cause_method, went_well, to_improve, lessons, "
                "benefits, rating, created_at, created_by) VALUES ('Old review', '[]', '2025-01-10', 'T', 'F', "
                "'[]', '', '', '', '', '5 whys', '', '', '', '', 4, :now, 'maria')"
            ),
            {"now": NOW},
        )
        c.execute(
            text(
                "INSERT INTO action (title, description, type, source, practice, owner, priority, due_date, "
                "status, created_at, created_by) VALUES ('Old action', '', 'improvement', 'other', 'process', "
                "'Ann', 'medium', '2025-03-01', 'open', :now, 'maria')"
            ),
            {"now": NOW},
        )
    upgrade(engine)
    with engine.connect() as c:
        r = c.execute(text("SELECT status, submitted_by, initiative FROM review")).one()
        a = c.execute(text("SELECT segment, version, ref, title, verdict_figures FROM action")).one()
    assert tuple(r) == ("submitted", "maria", "Old review")
    assert tuple(a) == ("", 1, None, "Old action", None)
    downgrade(engine, "0001")
    with engine.connect() as c:
        assert c.execute(text("SELECT title FROM action")).scalar_one() == "Old action"
    upgrade(engine)
