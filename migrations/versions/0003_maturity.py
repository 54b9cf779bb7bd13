"""One assessment per respondent and quarter (unique period + respondent).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 02:55:00

A database that already holds two assessments of the same respondent for one quarter keeps the
newest (highest id) of them: answering again is meant to replace, not to add a second vote.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    dupes = (
        bind.execute(
            sa.text(
                "SELECT a.id FROM assessment a WHERE EXISTS (SELECT 1 FROM assessment b WHERE b.period = a.period "
                "AND b.respondent = a.respondent AND b.id > a.id)"
            )
        )
        .scalars()
        .all()
    )
    for old_id in dupes:
        bind.execute(sa.text("DELETE FROM assessment_score WHERE assessment_id = :i"), {"i": old_id})
        bind.execute(sa.text("DELETE FROM assessment WHERE id = :i"), {"i": old_id})
    # A unique index, not a table constraint: on SQLite adding a constraint rebuilds the table, and dropping the
    # old table would cascade-delete every assessment_score row.
    op.create_index("uq_assessment_period_respondent", "assessment", ["period", "respondent"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_assessment_period_respondent", table_name="assessment")
