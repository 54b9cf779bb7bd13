"""Sponsorship: the organisation's own ids on meetings and decisions (re-imports update by them).

Revision ID: 0004
Revises: 0003

A nullable column plus a unique index, not a table constraint: on SQLite adding a constraint rebuilds
the table, and dropping the old `meeting` table would cascade-delete its attendees (or fail on the
decisions that point at it).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("meeting", "decision"):
        op.add_column(table, sa.Column("ref", sa.String(length=64), nullable=True))
        op.create_index(f"uq_{table}_ref", table, ["ref"], unique=True)


def downgrade() -> None:
    for table in ("decision", "meeting"):
        op.drop_index(f"uq_{table}_ref", table_name=table)
        # SQLite drops a column in place (3.35+): no table rebuild, so no cascade
        op.execute(f"ALTER TABLE {table} DROP COLUMN ref")
