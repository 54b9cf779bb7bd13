"""Improvement loop: review drafts and submission, KPI periods of a review, action segment, ref, version,
cancellation date and the frozen verdict's figures.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


# Plain ADD COLUMN / DROP COLUMN and a unique index: on SQLite a constraint would rebuild the table, and
# dropping the old table would cascade-delete (or fail on) the rows that point at it (review_kpi, action).
_ADDED = {
    "review": [
        sa.Column("status", sa.String(length=10), nullable=False, server_default="submitted"),
        sa.Column("submitted_by", sa.String(length=120), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
    ],
    "review_kpi": [
        sa.Column("baseline_period", sa.Date(), nullable=True),
        sa.Column("actual_period", sa.Date(), nullable=True),
    ],
    "action": [
        sa.Column("segment", sa.String(length=80), nullable=False, server_default=""),
        sa.Column("ref", sa.String(length=60), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column("verdict_figures", sa.JSON(), nullable=True),
    ],
}


def upgrade() -> None:
    for table, columns in _ADDED.items():
        for column in columns:
            op.add_column(table, column)
    # Reviews stored before drafts existed count as submitted by their author when they were created.
    op.execute("UPDATE review SET submitted_by = created_by, submitted_at = created_at WHERE submitted_by IS NULL")
    op.create_index("uq_action_ref", "action", ["ref"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_action_ref", table_name="action")
    for table, columns in reversed(list(_ADDED.items())):
        for column in reversed(columns):
            op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column.name}"')
