"""Sponsorship: the organisation's own ids on meetings and decisions (re-imports update by them).

Revision ID: 0004
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("meeting", "decision"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("ref", sa.String(length=64), nullable=True))
            batch_op.create_unique_constraint(op.f(f"uq_{table}_ref"), ["ref"])


def downgrade() -> None:
    for table in ("decision", "meeting"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"uq_{table}_ref"), type_="unique")
            batch_op.drop_column("ref")
